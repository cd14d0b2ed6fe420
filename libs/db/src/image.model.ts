import { Schema, type Connection, type Model } from 'mongoose';

export type StoredContentType = 'image/jpeg' | 'image/png';

/** Why an operator took an image down. */
export const TAKEDOWN_REASONS = ['legal', 'copyright', 'abuse', 'csam', 'other'] as const;
export type TakedownReason = (typeof TAKEDOWN_REASONS)[number];

/** An operator's takedown of an image: reads answer 451, keys stop working, bytes are quarantined. */
export interface Takedown {
  reason: TakedownReason;
  note: string;
  at: Date;
  /** The quarantined bytes are kept until then (TAKEDOWN_RETENTION_MS), then the reaper purges image and bytes. */
  retainUntil: Date;
  /** The admin request that took it down, for the audit trail. */
  requestId: string;
}

/**
 * One image: its current version and the hashes of its two capability keys. The `_id` is
 * the public `image_key`. The bytes live in S3 under `objectKey`.
 */
export interface ImageRecord {
  _id: string;
  versionId: string;
  objectKey: string;
  contentType: StoredContentType;
  bytes: number;
  width: number;
  height: number;
  sha256: string;
  deleteKeyHash: string;
  updateKeyHash: string;
  createdAt: Date;
  /** When the current version was accepted: the image's `Last-Modified`. */
  updatedAt: Date;
  /** Set when the image is deleted; reads treat it as gone from that moment. */
  deletedAt: Date | null;
  /**
   * When the image expires: from then on it is gone for the public, before the reaper purges
   * it. `null` (or absent, in records older than expiry) for never.
   */
  expiresAt?: Date | null;
  /** Set while the image is hidden for review after abuse reports: gone for the public until an operator decides. */
  hiddenAt?: Date | null;
  /** SHA-256 of the bytes as uploaded, before metadata stripping; absent on older records. */
  uploadedSha256?: string;
  /** 64-bit dHash of the decoded picture (16 hex digits), for the blocklist; absent on older records. */
  perceptualHash?: string;
  /** Set while the image is taken down; absent or null otherwise (a missing field matches `null` in queries). */
  takedown?: Takedown | null;
}

const imageSchema = new Schema<ImageRecord>(
  {
    _id: { type: String, required: true },
    versionId: { type: String, required: true },
    objectKey: { type: String, required: true },
    contentType: { type: String, required: true, enum: ['image/jpeg', 'image/png'] },
    bytes: { type: Number, required: true },
    width: { type: Number, required: true },
    height: { type: Number, required: true },
    sha256: { type: String, required: true },
    deleteKeyHash: { type: String, required: true },
    updateKeyHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
    deletedAt: { type: Date, default: null },
    expiresAt: { type: Date, default: null },
    hiddenAt: { type: Date, default: null },
    uploadedSha256: { type: String },
    perceptualHash: { type: String },
    takedown: {
      type: new Schema<Takedown>(
        {
          reason: { type: String, required: true, enum: TAKEDOWN_REASONS },
          note: { type: String, default: '' },
          at: { type: Date, required: true },
          retainUntil: { type: Date, required: true },
          requestId: { type: String, required: true },
        },
        { _id: false, versionKey: false, strict: 'throw' },
      ),
      default: null,
    },
  },
  // No `__v`, no automatic timestamps: every write states exactly what it changes.
  { collection: 'images', versionKey: false, timestamps: false, strict: 'throw' },
);
// Plain indexes only: what MongoDB and the local mongo-java-server both support.
imageSchema.index({ deletedAt: 1 });
// The expiry sweep's scan: the images whose expiry has passed, oldest first.
imageSchema.index({ expiresAt: 1 });
// The sweep's query for takedowns whose retention is over.
imageSchema.index({ 'takedown.retainUntil': 1 });

export type ImageModel = Model<ImageRecord>;

export function imageModel(connection: Connection): ImageModel {
  return connection.model<ImageRecord>('Image', imageSchema);
}

/** Whether the image has expired at `nowMs` (ms since the epoch): from that moment it is gone for the public. */
export function isExpired(record: Pick<ImageRecord, 'expiresAt'>, nowMs: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt !== null && record.expiresAt.getTime() <= nowMs;
}

/** Whether the image is hidden for review after abuse reports. */
export function isHidden(record: Pick<ImageRecord, 'hiddenAt'>): boolean {
  return record.hiddenAt !== undefined && record.hiddenAt !== null;
}
