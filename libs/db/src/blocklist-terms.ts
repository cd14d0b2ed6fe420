// How blocklist entries are found: each entry carries lookup terms in one indexed array, and
// a lookup is one `terms: {$in: [...]}` query (plain CRUD, which MongoDB and mongo-java-server
// share). A SHA-256 is one term. A 64-bit perceptual hash is split into bands: if two hashes
// differ in at most d bits, then of d + 1 bands at least one is identical (pigeonhole), so the
// entries sharing a band with the upload are the only candidates, and the caller verifies the
// distance of those few. Entries carry the bands for every d up to MAX_PERCEPTUAL_DISTANCE, so
// the distance can change without rewriting the blocklist.

/** The largest Hamming distance a perceptual lookup may use. Past it a 64-bit dHash matches unrelated pictures. */
export const MAX_PERCEPTUAL_DISTANCE = 10;

const PERCEPTUAL_HEX = /^[0-9a-f]{16}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isPerceptualHash(value: unknown): value is string {
  return typeof value === 'string' && PERCEPTUAL_HEX.test(value);
}

/** The lookup term of a SHA-256 (hex). */
export function sha256Term(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new RangeError(`not a SHA-256 hex digest: ${sha256}`);
  return `s:${sha256}`;
}

/** The d + 1 band terms under which a hash within `distance` of `hash` must share at least one. */
export function perceptualTerms(hash: string, distance: number): string[] {
  if (!isPerceptualHash(hash)) throw new RangeError(`not a 64-bit perceptual hash in hex: ${String(hash)}`);
  if (!Number.isInteger(distance) || distance < 0 || distance > MAX_PERCEPTUAL_DISTANCE) {
    throw new RangeError(`the distance must be an integer from 0 to ${MAX_PERCEPTUAL_DISTANCE}, not ${distance}`);
  }
  const bits = BigInt(`0x${hash}`);
  const bands = distance + 1;
  const terms: string[] = [];
  for (let band = 0; band < bands; band += 1) {
    const start = Math.floor((band * 64) / bands);
    const end = Math.floor(((band + 1) * 64) / bands);
    const value = (bits >> BigInt(64 - end)) & ((1n << BigInt(end - start)) - 1n);
    terms.push(`p${bands}.${band}:${value.toString(16)}`);
  }
  return terms;
}

/** Every term a perceptual entry is stored under: its bands for each distance from 0 to the maximum. */
export function storedPerceptualTerms(hash: string): string[] {
  return Array.from({ length: MAX_PERCEPTUAL_DISTANCE + 1 }, (_, distance) => perceptualTerms(hash, distance)).flat();
}
