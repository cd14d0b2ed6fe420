import type { BlocklistEntry, BlocklistRepository } from '@imagehost/db';
import { hammingDistance } from '@imagehost/image-format';

/** What an upload is matched by: the SHA-256s of its bytes (stored, and as uploaded) and its picture's hash. */
export interface UploadFingerprint {
  readonly sha256s: readonly string[];
  readonly perceptualHash: string;
}

export interface BlocklistMatch {
  readonly entry: Pick<BlocklistEntry, '_id' | 'kind' | 'hash' | 'imageKey'>;
  /** Bits between the perceptual hashes; 0 for an exact match. */
  readonly distance: number;
}

/**
 * The blocklist entry the upload matches, if any: the same bytes (a SHA-256), or a picture
 * within `maxDistance` bits (the repository finds the candidates that share a band; their
 * distance is checked here). An exact match wins over a perceptual one.
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
    const distance = hammingDistance(entry.hash, fingerprint.perceptualHash);
    if (distance <= maxDistance && (best === undefined || distance < best.distance)) best = { entry, distance };
  }
  return best;
}
