import { describe, expect, it } from '@jest/globals';
import type { BlocklistEntry, BlocklistQuery } from '@imagehost/db';
import { findBlocklistMatch } from './blocklist-match.js';

// The decision on the candidates the repository returns: exact matches on the digest, and
// perceptual ones within the distance only (a shared band is not a match by itself).

function entry(kind: BlocklistEntry['kind'], hash: string): BlocklistEntry {
  return { _id: `${kind}:${hash}:-`, kind, hash, terms: [], imageKey: null, reason: 'legal', note: '', createdAt: new Date(0) };
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

const UPLOAD = { sha256s: ['a'.repeat(64), 'b'.repeat(64)], perceptualHash: '00000000000000ff' };

describe('findBlocklistMatch', () => {
  it('asks for the digests and the picture at the configured distance', async () => {
    const blocklist = scripted([]);
    expect(await findBlocklistMatch(blocklist, UPLOAD, 6)).toBeUndefined();
    expect(blocklist.asked).toEqual([{ sha256s: UPLOAD.sha256s, perceptual: { hash: '00000000000000ff', distance: 6 } }]);
  });

  it('matches the bytes as uploaded or as stored, exactly, before any perceptual candidate', async () => {
    const match = await findBlocklistMatch(scripted([entry('perceptual', '00000000000000ff'), entry('sha256', 'b'.repeat(64))]), UPLOAD, 6);
    expect(match).toEqual({ entry: expect.objectContaining({ kind: 'sha256', hash: 'b'.repeat(64) }), distance: 0 });
  });

  it('matches the nearest perceptual candidate within the distance, and none beyond it', async () => {
    // 3, 6 and 9 bits away from 00000000000000ff.
    const candidates = [entry('perceptual', '00000000000003f0'), entry('perceptual', '00000000000000f8'), entry('perceptual', '0000000000000100')];
    const match = await findBlocklistMatch(scripted(candidates), UPLOAD, 6);
    expect(match).toEqual({ entry: expect.objectContaining({ hash: '00000000000000f8' }), distance: 3 });
    expect(await findBlocklistMatch(scripted([entry('perceptual', '0000000000000100')]), UPLOAD, 6)).toBeUndefined();
    expect(await findBlocklistMatch(scripted([entry('perceptual', '0000000000000100')]), UPLOAD, 9)).toEqual({ entry: expect.objectContaining({ hash: '0000000000000100' }), distance: 9 });
  });

  it('does not take a digest entry for another digest as a match', async () => {
    expect(await findBlocklistMatch(scripted([entry('sha256', 'c'.repeat(64))]), UPLOAD, 6)).toBeUndefined();
  });
});
