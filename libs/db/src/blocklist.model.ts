import { Schema, type Connection, type Model } from 'mongoose';

/** What a blocklist entry matches: the exact bytes (SHA-256), or the picture (perceptual hash). */
export type BlocklistKind = 'sha256' | 'perceptual';

/**
 * One blocked hash, from one source. `_id` is `kind:hash:source` (the source is the image key
 * it came from, or `-` when added by hash), so adding it again changes nothing, and lifting
 * one image's takedown removes only that image's entries.
 */
export interface BlocklistEntry {
  _id: string;
  kind: BlocklistKind;
  /** Hex: 64 digits for a SHA-256, 16 for a perceptual hash. */
  hash: string;
  /** What lookups match on (blocklist-terms.ts); indexed. */
  terms: string[];
  /** The taken-down image it came from; null when an operator added the hash itself. */
  imageKey: string | null;
  reason: string;
  note: string;
  createdAt: Date;
}

const blocklistSchema = new Schema<BlocklistEntry>(
  {
    _id: { type: String, required: true },
    kind: { type: String, required: true, enum: ['sha256', 'perceptual'] },
    hash: { type: String, required: true },
    terms: { type: [String], required: true },
    imageKey: { type: String, default: null },
    reason: { type: String, required: true },
    note: { type: String, default: '' },
    createdAt: { type: Date, required: true },
  },
  { collection: 'blocklist', versionKey: false, timestamps: false, strict: 'throw' },
);
// Plain indexes only (an array field's is multikey on MongoDB).
blocklistSchema.index({ terms: 1 });
blocklistSchema.index({ hash: 1 });
blocklistSchema.index({ imageKey: 1 });

export type BlocklistModel = Model<BlocklistEntry>;

export function blocklistModel(connection: Connection): BlocklistModel {
  return connection.model<BlocklistEntry>('BlocklistEntry', blocklistSchema);
}
