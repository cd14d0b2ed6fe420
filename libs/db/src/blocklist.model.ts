/** The collection of blocklist entries. */
export const BLOCKLIST_COLLECTION = 'blocklist';

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
  /** Hex: 64 digits for a SHA-256, 16 for a perceptual hash (a dHash). */
  hash: string;
  /**
   * A perceptual entry's DCT hash (pHash, 16 hex digits): when present, a match needs both
   * hashes near. Absent on SHA-256 entries, on perceptual hashes added by hand, and on
   * entries from records older than the pHash.
   */
  dctHash?: string;
  /** What lookups match on (blocklist-terms.ts, from `hash` alone); indexed. */
  terms: string[];
  /** The taken-down image it came from; null when an operator added the hash itself. */
  imageKey: string | null;
  reason: string;
  note: string;
  createdAt: Date;
}

/** An entry as lookups and listings return it: without its lookup terms. */
export type BlocklistEntryView = Omit<BlocklistEntry, 'terms'>;
