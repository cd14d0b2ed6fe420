import type { BlocklistEntryView, BlocklistRepository } from '@imagehost/db';
import { hammingDistance } from '@imagehost/image-format/perceptual';

/** What an upload is matched by: the SHA-256s of its bytes (stored, and as uploaded) and its picture's two hashes. */
export interface UploadFingerprint {
  readonly sha256s: readonly string[];
  /** The picture's dHash. */
  readonly perceptualHash: string;
  /** The picture's pHash (DCT hash). */
  readonly dctHash: string;
}

export interface BlocklistMatch {
  readonly entry: Pick<BlocklistEntryView, '_id' | 'kind' | 'hash' | 'imageKey'>;
  /** Bits between the dHashes; 0 for an exact match. */
  readonly distance: number;
}

/**
 * The widest dHash distance an entry without a pHash matches at, whatever the configured
 * distance: dHash alone past 6 bits refuses far more unrelated pictures
 * (docs/moderation.md#perceptual-matching-what-it-catches-and-what-it-costs).
 */
export const DHASH_ONLY_MAX_DISTANCE = 6;

/** The dHash distance when the entry matches the picture, else `undefined`. */
function perceptualDistance(entry: BlocklistEntryView, fingerprint: UploadFingerprint, maxDistance: number): number | undefined {
  const distance = hammingDistance(entry.hash, fingerprint.perceptualHash);
  if (entry.dctHash === undefined) return distance <= Math.min(maxDistance, DHASH_ONLY_MAX_DISTANCE) ? distance : undefined;
  return distance <= maxDistance && hammingDistance(entry.dctHash, fingerprint.dctHash) <= maxDistance ? distance : undefined;
}

/**
 * The blocklist entry the upload matches, if any: the same bytes (a SHA-256), or the same
 * picture. A perceptual entry with a pHash matches when both its dHash and its pHash lie
 * within `maxDistance` bits of the upload's; one without (added by dHash alone, or from an
 * older record) when its dHash lies within `DHASH_ONLY_MAX_DISTANCE` as well. The repository
 * finds the candidates that share a dHash band; their distances are checked here. An exact
 * match wins over a perceptual one.
 */
export async function findBlocklistMatch(
  blocklist: Pick<BlocklistRepository, 'findCandidates'>,
  fingerprint: UploadFingerprint,
  maxDistance: number,
): Promise<BlocklistMatch | undefined> {
  const candidates = await blocklist.findCandidates({ sha256s: fingerprint.sha256s, perceptual: { hash: fingerprint.perceptualHash, distance: maxDistance } });
  const exact = candidates.find((entry) => entry.kind === 'sha256' && fingerprint.sha256s.includes(entry.hash));
  if (exact !== undefined) return { entry: exact, distance: 0 };
  let best: BlocklistMatch | undefined;
  for (const entry of candidates) {
    if (entry.kind !== 'perceptual') continue;
    const distance = perceptualDistance(entry, fingerprint, maxDistance);
    if (distance !== undefined && (best === undefined || distance < best.distance)) best = { entry, distance };
  }
  return best;
}
