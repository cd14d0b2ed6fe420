import { describe, expect, it } from '@jest/globals';
import type { BlocklistEntry, BlocklistQuery } from '@imagehost/db';
import { findBlocklistMatch } from './blocklist-match.js';

// The decision on the candidates the repository returns: exact matches on the digest; a
// perceptual entry with a pHash when both hashes lie within the distance; one with a dHash
// alone within the distance and at most 6 bits. A shared band is not a match by itself.

function entry(kind: BlocklistEntry['kind'], hash: string, dctHash?: string): BlocklistEntry {
  return { _id: `${kind}:${hash}:-`, kind, hash, ...(dctHash === undefined ? {} : { dctHash }), terms: [], imageKey: null, reason: 'legal', note: '', createdAt: new Date(0) };
}

/** A blocklist answering scripted candidates, recording what it was asked. */
function scripted(candidates: BlocklistEntry[]) {
  const asked: BlocklistQuery[] = [];
  return {
    asked,
    findCandidates: async (query: BlocklistQuery) => {
      asked.push(query);
      return candidates;
    },
  };
}

const UPLOAD = { sha256s: ['a'.repeat(64), 'b'.repeat(64)], perceptualHash: '00000000000000ff', dctHash: 'ff00000000000000' };

/** `hash` with its lowest `bits` bits flipped. */
function flipped(hash: string, bits: number): string {
  return (BigInt(`0x${hash}`) ^ ((1n << BigInt(bits)) - 1n)).toString(16).padStart(16, '0');
}

describe('findBlocklistMatch', () => {
  it('asks for the digests and the dHash at the configured distance', async () => {
    const blocklist = scripted([]);
    expect(await findBlocklistMatch(blocklist, UPLOAD, 8)).toBeUndefined();
    expect(blocklist.asked).toEqual([{ sha256s: UPLOAD.sha256s, perceptual: { hash: '00000000000000ff', distance: 8 } }]);
  });

  it('matches the bytes as uploaded or as stored, exactly, before any perceptual candidate', async () => {
    const match = await findBlocklistMatch(scripted([entry('perceptual', '00000000000000ff', UPLOAD.dctHash), entry('sha256', 'b'.repeat(64))]), UPLOAD, 8);
    expect(match).toEqual({ entry: expect.objectContaining({ kind: 'sha256', hash: 'b'.repeat(64) }), distance: 0 });
  });

  it('matches an entry with a pHash only when both hashes lie within the distance', async () => {
    const near = flipped(UPLOAD.perceptualHash, 8);
    expect(await findBlocklistMatch(scripted([entry('perceptual', near, flipped(UPLOAD.dctHash, 8))]), UPLOAD, 8)).toEqual({
      entry: expect.objectContaining({ hash: near }),
      distance: 8,
    });
    // The dHash alone near is not enough, nor the pHash alone.
    expect(await findBlocklistMatch(scripted([entry('perceptual', near, flipped(UPLOAD.dctHash, 9))]), UPLOAD, 8)).toBeUndefined();
    expect(await findBlocklistMatch(scripted([entry('perceptual', flipped(UPLOAD.perceptualHash, 9), UPLOAD.dctHash)]), UPLOAD, 8)).toBeUndefined();
    // A smaller configured distance applies to both.
    expect(await findBlocklistMatch(scripted([entry('perceptual', flipped(UPLOAD.perceptualHash, 4), flipped(UPLOAD.dctHash, 5))]), UPLOAD, 4)).toBeUndefined();
  });

  it('matches an entry without a pHash by its dHash within the distance and never beyond 6 bits', async () => {
    const at = (bits: number) => entry('perceptual', flipped(UPLOAD.perceptualHash, bits));
    expect(await findBlocklistMatch(scripted([at(6)]), UPLOAD, 8)).toEqual({ entry: expect.objectContaining({ hash: at(6).hash }), distance: 6 });
    expect(await findBlocklistMatch(scripted([at(7)]), UPLOAD, 8)).toBeUndefined();
    expect(await findBlocklistMatch(scripted([at(7)]), UPLOAD, 10)).toBeUndefined();
    expect(await findBlocklistMatch(scripted([at(5)]), UPLOAD, 4)).toBeUndefined();
    expect(await findBlocklistMatch(scripted([at(4)]), UPLOAD, 4)).toEqual({ entry: expect.objectContaining({ hash: at(4).hash }), distance: 4 });
  });

  it('reports the nearest of several matching entries by dHash', async () => {
    const candidates = [
      entry('perceptual', flipped(UPLOAD.perceptualHash, 7), UPLOAD.dctHash),
      entry('perceptual', flipped(UPLOAD.perceptualHash, 3)),
      entry('perceptual', flipped(UPLOAD.perceptualHash, 1), flipped(UPLOAD.dctHash, 10)),
    ];
    expect(await findBlocklistMatch(scripted(candidates), UPLOAD, 8)).toEqual({ entry: expect.objectContaining({ hash: flipped(UPLOAD.perceptualHash, 3) }), distance: 3 });
  });

  it('does not take a digest entry for another digest as a match', async () => {
    expect(await findBlocklistMatch(scripted([entry('sha256', 'c'.repeat(64))]), UPLOAD, 8)).toBeUndefined();
  });
});
