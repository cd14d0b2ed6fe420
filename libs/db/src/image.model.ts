export type StoredContentType = 'image/jpeg' | 'image/png';

/** The collection of image records. */
export const IMAGES_COLLECTION = 'images';

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
 * the public `image_key`. The bytes live in S3 under `objectKey`. Every write states each
 * field it changes (no `__v`, no automatic timestamps).
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
  /** 64-bit DCT hash (pHash) of the decoded picture (16 hex digits), matched with the dHash; absent on older records. */
  perceptualDctHash?: string;
  /** Set while the image is taken down; absent or null otherwise (a missing field matches `null` in queries). */
  takedown?: Takedown | null;
}

/** Whether the image has expired at `nowMs` (ms since the epoch): from that moment it is gone for the public. */
export function isExpired(record: Pick<ImageRecord, 'expiresAt'>, nowMs: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt !== null && record.expiresAt.getTime() <= nowMs;
}

/** Whether the image is hidden for review after abuse reports. */
export function isHidden(record: Pick<ImageRecord, 'hiddenAt'>): boolean {
  return record.hiddenAt !== undefined && record.hiddenAt !== null;
}
