/** The collection of abuse reports. */
export const REPORTS_COLLECTION = 'reports';

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
