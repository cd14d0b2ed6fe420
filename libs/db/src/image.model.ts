export type StoredContentType = 'image/jpeg' | 'image/png';

/** The collection of image records. */
export const IMAGES_COLLECTION = 'images';

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
}
