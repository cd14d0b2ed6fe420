import { Schema, type Connection, type Model } from 'mongoose';

export type StoredContentType = 'image/jpeg' | 'image/png';

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
  },
  // No `__v`, no automatic timestamps: every write states exactly what it changes.
  { collection: 'images', versionKey: false, timestamps: false, strict: 'throw' },
);
// Plain indexes only: what MongoDB and the local mongo-java-server both support.
imageSchema.index({ deletedAt: 1 });

export type ImageModel = Model<ImageRecord>;

export function imageModel(connection: Connection): ImageModel {
  return connection.model<ImageRecord>('Image', imageSchema);
}
