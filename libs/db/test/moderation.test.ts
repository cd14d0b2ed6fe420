import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { BlocklistRepository, ImageRepository, connectDatabase, type ImageRecord, type Takedown } from '@imagehost/db';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

// Takedown state and the blocklist on the real MongoDB-protocol server the suite runs on: the
// compare-and-sets that keep a taken-down image from coming back, and the one-query `$in`
// lookup on an array field that the perceptual match rests on.

const settings = testBackendSettings();
let connection: Connection;
let images: ImageRepository;
let blocklist: BlocklistRepository;

const AT = new Date('2026-01-02T03:04:05.000Z');
const DAY = 24 * 3600_000;

function record(imageKey: string): ImageRecord {
  return {
    _id: imageKey,
    versionId: 'v1',
    objectKey: `images/${imageKey}/v1`,
    contentType: 'image/png',
    bytes: 10,
    width: 1,
    height: 1,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: AT,
    updatedAt: AT,
    deletedAt: null,
  };
}

function takedown(retainUntil = new Date(AT.getTime() + 90 * DAY)): Takedown {
  return { reason: 'legal', note: 'notice 42', at: AT, retainUntil, requestId: 'req-1' };
}

const next = {
  versionId: 'v2',
  objectKey: 'images/x/v2',
  contentType: 'image/png' as const,
  bytes: 11,
  width: 1,
  height: 1,
  sha256: 'b'.repeat(64),
  deleteKeyHash: 'e'.repeat(64),
  updateKeyHash: 'f'.repeat(64),
  updatedAt: AT,
};

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('moderation') });
  images = new ImageRepository(connection);
  blocklist = new BlocklistRepository(connection);
  await images.prepare();
  await blocklist.prepare();
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

describe('takedown on the image record', () => {
  it('applies once to a live record written without the field, and then no replacement or deletion applies', async () => {
    await images.insertIfAbsent(record('td1'));
    const down = await images.takeDown('td1', takedown());
    expect(down?.takedown).toEqual(takedown());
    expect(await images.takeDown('td1', takedown())).toBeUndefined();
    expect(await images.replaceVersion('td1', 'u'.repeat(64), next, new Date())).toBeUndefined();
    expect(await images.markDeleted('td1', 'd'.repeat(64), AT)).toBe(false);
    expect(await images.findAny('td1')).toEqual({ ...record('td1'), takedown: takedown() });
  });

  it('leaves a record without the field replaceable and deletable (a missing takedown matches null)', async () => {
    await images.insertIfAbsent(record('td2'));
    expect((await images.replaceVersion('td2', 'u'.repeat(64), next, new Date()))?.versionId).toBe('v1');
    expect(await images.markDeleted('td2', 'e'.repeat(64), AT)).toBe(true);
    expect(await images.takeDown('td2', takedown())).toBeUndefined();
    expect(await images.takeDown('unknown', takedown())).toBeUndefined();
  });

  it('is lifted within its retention only, and the record is then as it was', async () => {
    await images.insertIfAbsent(record('td3'));
    await images.takeDown('td3', takedown(new Date(AT.getTime() + DAY)));
    expect(await images.liftTakedown('td3', new Date(AT.getTime() + DAY))).toBeUndefined();
    expect((await images.liftTakedown('td3', new Date(AT.getTime() + DAY - 1)))?.takedown?.reason).toBe('legal');
    expect(await images.liftTakedown('td3', AT)).toBeUndefined();
    expect((await images.findAny('td3'))?.takedown).toBeNull();
    expect((await images.replaceVersion('td3', 'u'.repeat(64), next, new Date()))?.versionId).toBe('v1');
  });

  it('finds takedowns whose retention is over, earliest first, and purges only those', async () => {
    for (const [key, days] of [['ex2', 2], ['ex1', 1], ['ex9', 9]] as const) {
      await images.insertIfAbsent(record(key));
      await images.takeDown(key, takedown(new Date(AT.getTime() + days * DAY)));
    }
    const now = new Date(AT.getTime() + 3 * DAY);
    expect(await images.findExpiredTakedowns(now, 10)).toEqual(['ex1', 'ex2']);
    expect(await images.findExpiredTakedowns(now, 1)).toEqual(['ex1']);
    expect(await images.purgeTakenDown('ex9', now)).toBe(false);
    expect(await images.purgeTakenDown('td1', now)).toBe(false);
    expect(await images.purgeTakenDown('ex1', now)).toBe(true);
    expect(await images.findAny('ex1')).toBeUndefined();
    expect(await images.findExpiredTakedowns(now, 10)).toEqual(['ex2']);
  });
});

describe('the blocklist', () => {
  const base = { reason: 'legal', note: '', createdAt: AT };

  it('adds an entry once per hash and source, finds it by SHA-256, and lists in pages', async () => {
    const sha = 'c'.repeat(64);
    expect(await blocklist.add([{ ...base, kind: 'sha256', hash: sha, imageKey: 'img1' }])).toHaveLength(1);
    expect(await blocklist.add([{ ...base, kind: 'sha256', hash: sha, imageKey: 'img1' }])).toHaveLength(0);
    expect(await blocklist.add([{ ...base, kind: 'sha256', hash: sha, imageKey: null }])).toHaveLength(1);
    const found = await blocklist.findCandidates({ sha256s: [sha, 'd'.repeat(64)] });
    expect(found.map((entry) => entry._id).sort()).toEqual([`sha256:${sha}:-`, `sha256:${sha}:img1`]);
    expect(await blocklist.findCandidates({ sha256s: ['d'.repeat(64)] })).toEqual([]);
    const first = await blocklist.list(1);
    const second = await blocklist.list(10, first[0]?._id);
    expect([...first, ...second].map((entry) => entry._id)).toEqual([`sha256:${sha}:-`, `sha256:${sha}:img1`]);
    expect(first[0]).toEqual({ _id: `sha256:${sha}:-`, kind: 'sha256', hash: sha, imageKey: null, ...base });
  });

  it('finds a perceptual entry from a hash a few bits away, through one $in on the array of bands', async () => {
    const stored = '0f0f0f0f0f0f0f0f';
    await blocklist.add([{ ...base, kind: 'perceptual', hash: stored, imageKey: 'img2' }]);
    // Six bits flipped, one in each of six of the seven bands at distance 6.
    const near = (BigInt(`0x${stored}`) ^ 0x8000_0100_0040_0020n ^ 0x0000_0000_0010_0001n).toString(16).padStart(16, '0');
    expect((await blocklist.findCandidates({ sha256s: [], perceptual: { hash: near, distance: 6 } })).map((entry) => entry.hash)).toEqual([stored]);
    expect(await blocklist.findCandidates({ sha256s: [], perceptual: { hash: 'f0f0f0f0f0f0f0f0', distance: 6 } })).toEqual([]);
  });

  it('keeps a perceptual entry\'s pHash beside its dHash, and finds it by the dHash bands at distance 8', async () => {
    const stored = '3c3c3c3c3c3c3c3c';
    await blocklist.add([
      { ...base, kind: 'perceptual', hash: stored, dctHash: '0123456789abcdef', imageKey: 'img5' },
      { ...base, kind: 'perceptual', hash: stored, imageKey: null },
      // A pHash given with a SHA-256 entry means nothing and is not kept.
      { ...base, kind: 'sha256', hash: 'f'.repeat(64), dctHash: '0123456789abcdef', imageKey: 'img5' },
    ]);
    // Eight bits flipped, the most a default lookup reaches.
    const near = (BigInt(`0x${stored}`) ^ 0x8001_0000_8001_0000n ^ 0x0000_8001_0000_8001n).toString(16).padStart(16, '0');
    const found = await blocklist.findCandidates({ sha256s: ['f'.repeat(64)], perceptual: { hash: near, distance: 8 } });
    expect(found.sort((x, y) => x._id.localeCompare(y._id))).toEqual([
      { _id: `perceptual:${stored}:-`, kind: 'perceptual', hash: stored, imageKey: null, ...base },
      { _id: `perceptual:${stored}:img5`, kind: 'perceptual', hash: stored, dctHash: '0123456789abcdef', imageKey: 'img5', ...base },
      { _id: `sha256:${'f'.repeat(64)}:img5`, kind: 'sha256', hash: 'f'.repeat(64), imageKey: 'img5', ...base },
    ]);
    expect(await blocklist.removeForImage('img5')).toBe(2);
    expect(await blocklist.removeHash(stored)).toBe(1);
  });

  it('removes by hash whatever the source, and by image', async () => {
    await blocklist.add([
      { ...base, kind: 'sha256', hash: 'e'.repeat(64), imageKey: 'img3' },
      { ...base, kind: 'perceptual', hash: '1111111111111111', imageKey: 'img3' },
      { ...base, kind: 'sha256', hash: 'e'.repeat(64), imageKey: 'img4' },
    ]);
    expect(await blocklist.removeForImage('img3')).toBe(2);
    expect((await blocklist.findCandidates({ sha256s: ['e'.repeat(64)] })).map((entry) => entry.imageKey)).toEqual(['img4']);
    expect(await blocklist.removeHash('e'.repeat(64))).toBe(1);
    expect(await blocklist.findCandidates({ sha256s: ['e'.repeat(64)], perceptual: { hash: '1111111111111111', distance: 0 } })).toEqual([]);
  });
});
