import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { createIngestQueue, type IngestQueue } from '@imagehost/jobs';
import { generateImageKey, generateVersionId, objectKeyFor } from '@imagehost/keys';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { reap, type ReapDeps } from '../src/reap.handler.js';
import { SweepLockLostError, sweepLock } from '../src/sweep-lock.js';
import { sweep, type SweepDeps } from '../src/sweep.handler.js';

// The sweep page by page against real MongoDB-protocol, S3 and Redis servers: orphaned
// version objects (no record, no job) are removed across pages, and a sweep whose lock is
// lost stops at the next page.

const settings = testBackendSettings();
const redis = new Redis(settings.redisUrl);
let connection: Connection;
let images: ImageRepository;
let objects: ObjectStore;
let ingestQueue: IngestQueue;
let deps: SweepDeps;
// Sorts after every version key, so each page holds versions only.
const NOT_A_VERSION = 'images/~not-a-version';
let orphans: string[];

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('sweep') });
  images = new ImageRepository(connection);
  objects = new ObjectStore({ ...settings.s3, bucket: uniqueName('sweep') });
  ingestQueue = createIngestQueue({ redis: { kind: 'server', url: settings.redisUrl }, prefix: uniqueName('sweep') });
  await Promise.all([images.prepare(), objects.ensureBucket()]);
  deps = {
    images,
    objects,
    ingestQueue,
    graceMs: 60_000,
    log: createLogger('reaper-test', 'silent'),
    // Everything stored is past the grace period.
    now: () => Date.now() + 120_000,
    batchSize: 3,
  };
});

beforeEach(async () => {
  orphans = Array.from({ length: 7 }, () => objectKeyFor(generateImageKey(), generateVersionId())).sort();
  for (const key of [...orphans, NOT_A_VERSION]) await objects.putObject(key, Buffer.from('x'), 'application/octet-stream');
});

afterAll(async () => {
  for (const key of await objects.listObjectKeys()) await objects.removeObject(key);
  await objects.removeBucket();
  await ingestQueue.obliterate({ force: true });
  await ingestQueue.close();
  await connection.dropDatabase();
  await connection.close();
  redis.disconnect();
});

describe('sweep', () => {
  it('removes orphaned versions over several pages and leaves what is not an image version', async () => {
    const result = await sweep(deps);
    expect(result).toEqual({ removedObjects: orphans.length, removedRecords: 0, reingested: 0 });
    expect(await objects.listObjectKeys('images/')).toEqual([NOT_A_VERSION]);
  });

  it('stops at the next page once its lock is taken away', async () => {
    const lockKey = uniqueName('sweep-lock');
    let removals = 0;
    // The lock is taken away as the first page ends; the holder notices within a renewal.
    const watched = Object.assign(Object.create(objects) as ObjectStore, {
      removeObject: async (key: string) => {
        await objects.removeObject(key);
        removals += 1;
        if (removals !== deps.batchSize) return;
        await redis.set(lockKey, 'another-reaper', 'PX', 60_000);
        await sleep(1500);
      },
    });
    const reapDeps: ReapDeps = { ...deps, objects: watched, exclusively: sweepLock(redis, lockKey, { ttlMs: 600, renewEveryMs: 150 }) };

    await expect(reap({ target: 'sweep' }, reapDeps)).rejects.toThrow(SweepLockLostError);
    expect(removals).toBe(3);
    expect(await objects.listObjectKeys('images/')).toEqual([...orphans.slice(3), NOT_A_VERSION]);
    expect(await redis.get(lockKey)).toBe('another-reaper');
    await redis.del(lockKey);
    for (const key of orphans) await objects.removeObject(key);
  });
});
