import { Schema, type Connection, type Model } from 'mongoose';

/** Why the public reports an image. */
export const REPORT_REASONS = ['illegal', 'copyright', 'abuse', 'csam', 'spam', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];

/** Open until an operator resolves it: dismissed (nothing wrong), or actioned (taken down). */
export const REPORT_STATUSES = ['open', 'dismissed', 'actioned'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** The longest `details` and `contact` a report may carry, in characters. */
export const REPORT_DETAILS_MAX = 2000;
export const REPORT_CONTACT_MAX = 320;

/** One abuse report. The `_id` sorts by creation time (`generateReportId`). */
export interface ReportRecord {
  _id: string;
  imageKey: string;
  /** A hash of the reporting client's address (`hashReporter`), never the address. */
  reporter: string;
  reason: ReportReason;
  details: string | null;
  contact: string | null;
  status: ReportStatus;
  createdAt: Date;
  resolvedAt: Date | null;
  /** The operator's note when resolving. */
  resolution: string | null;
  /**
   * `imageKey:reporter` while the report is open, removed when resolved: a unique sparse index
   * on it keeps one open report per client and image, across every gateway replica.
   */
  openKey?: string;
}

const reportSchema = new Schema<ReportRecord>(
  {
    _id: { type: String, required: true },
    imageKey: { type: String, required: true },
    reporter: { type: String, required: true },
    reason: { type: String, required: true, enum: REPORT_REASONS },
    details: { type: String, default: null },
    contact: { type: String, default: null },
    status: { type: String, required: true, enum: REPORT_STATUSES },
    createdAt: { type: Date, required: true },
    resolvedAt: { type: Date, default: null },
    resolution: { type: String, default: null },
    openKey: { type: String },
  },
  { collection: 'reports', versionKey: false, timestamps: false, strict: 'throw' },
);
reportSchema.index({ openKey: 1 }, { unique: true, sparse: true });
// The queue (by status, oldest first) and the reports of one image.
reportSchema.index({ status: 1, _id: 1 });
reportSchema.index({ imageKey: 1, status: 1 });

export type ReportModel = Model<ReportRecord>;

export function reportModel(connection: Connection): ReportModel {
  return connection.model<ReportRecord>('Report', reportSchema);
}
