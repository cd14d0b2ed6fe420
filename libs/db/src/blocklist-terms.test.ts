import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { MAX_PERCEPTUAL_DISTANCE, perceptualTerms, sha256Term, storedPerceptualTerms } from './blocklist-terms.js';

// The pigeonhole lookup: a hash within d bits of a stored one always shares a term with it,
// which is what lets one `$in` query find every near-duplicate.

function randomHash(): string {
  return randomBytes(8).toString('hex');
}

function flipBits(hash: string, count: number): string {
  let bits = BigInt(`0x${hash}`);
  const positions = new Set<number>();
  while (positions.size < count) positions.add(randomBytes(1)[0]! % 64);
  for (const position of positions) bits ^= 1n << BigInt(position);
  return bits.toString(16).padStart(16, '0');
}

describe('perceptual terms', () => {
  it('split the 64 bits into d + 1 bands that cover every bit once', () => {
    for (let distance = 0; distance <= MAX_PERCEPTUAL_DISTANCE; distance += 1) {
      const terms = perceptualTerms('ffffffffffffffff', distance);
      expect(terms).toHaveLength(distance + 1);
      const widths = terms.map((term) => BigInt(`0x${term.split(':')[1]}`).toString(2).length);
      expect([distance, widths.reduce((a, b) => a + b, 0)]).toEqual([distance, 64]);
    }
    expect(perceptualTerms('0123456789abcdef', 0)).toEqual(['p1.0:123456789abcdef']);
    expect(perceptualTerms('0123456789abcdef', 1)).toEqual(['p2.0:1234567', 'p2.1:89abcdef']);
  });

  it('of a hash within d bits of a stored one always include one of the stored terms (1000 pairs per distance)', () => {
    for (let distance = 0; distance <= MAX_PERCEPTUAL_DISTANCE; distance += 1) {
      for (let round = 0; round < 1000; round += 1) {
        const stored = randomHash();
        const near = flipBits(stored, Math.floor(Math.random() * (distance + 1)));
        const storedTerms = new Set(storedPerceptualTerms(stored));
        expect([distance, stored, near, perceptualTerms(near, distance).some((term) => storedTerms.has(term))]).toEqual([distance, stored, near, true]);
      }
    }
  });

  it('of unrelated hashes rarely meet: few candidates to verify', () => {
    const stored = Array.from({ length: 2000 }, () => new Set(storedPerceptualTerms(randomHash())));
    const query = perceptualTerms(randomHash(), 6);
    const candidates = stored.filter((terms) => query.some((term) => terms.has(term))).length;
    // Seven bands of 9 or 10 bits: each unrelated entry is a candidate with a chance of about 7/512.
    expect(candidates).toBeLessThan(100);
  });

  it('refuse what is not a hash or a distance out of range', () => {
    expect(() => perceptualTerms('xyz', 6)).toThrow(RangeError);
    expect(() => perceptualTerms('0123456789abcdef', MAX_PERCEPTUAL_DISTANCE + 1)).toThrow(RangeError);
    expect(() => perceptualTerms('0123456789abcdef', -1)).toThrow(RangeError);
    expect(() => sha256Term('abc')).toThrow(RangeError);
    expect(sha256Term('a'.repeat(64))).toBe(`s:${'a'.repeat(64)}`);
  });
});
