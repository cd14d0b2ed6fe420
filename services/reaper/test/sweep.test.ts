import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { createIngestQueue, type IngestQueue } from '@imagehost/jobs';
import { generateImageKey, generateVersionId, objectKeyFor } from '@imagehost/keys';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { Registry } from 'prom-client';
import { createReaperMetrics } from '../src/metrics.js';
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
    expect(result).toEqual({ removedObjects: orphans.length, removedRecords: 0, reingested: 0, quarantined: 0 });
    expect(await objects.listObjectKeys('images/')).toEqual([NOT_A_VERSION]);
  });

  it('records on its metrics when a sweep completed and how long it took, and nothing for one it skipped', async () => {
    const registry = new Registry();
    const metrics = createReaperMetrics(registry);
    const lockKey = uniqueName('sweep-lock');
    const reapDeps: ReapDeps = {
      ...deps,
      exclusively: sweepLock(redis, lockKey, { ttlMs: 30_000 }),
      expiryExclusively: sweepLock(redis, uniqueName('expiry-lock'), { ttlMs: 30_000 }),
      sweepCompleted: (seconds) => metrics.sweepCompleted(seconds),
    };
    const value = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;

    // Another reaper holds the lock: this one skips the sweep and reports none.
    await redis.set(lockKey, 'another-reaper', 'PX', 60_000);
    await reap({ target: 'sweep' }, reapDeps);
    expect(await value('imagehost_sweep_last_success_timestamp_seconds')).toBe(0);
    expect(await objects.listObjectKeys('images/')).toEqual([...orphans, NOT_A_VERSION]);
    await redis.del(lockKey);

    const before = Date.now() / 1000;
    await reap({ target: 'sweep' }, reapDeps);
    const after = Date.now() / 1000;
    expect(await objects.listObjectKeys('images/')).toEqual([NOT_A_VERSION]);
    const lastSuccess = await value('imagehost_sweep_last_success_timestamp_seconds');
    expect(lastSuccess).toBeGreaterThanOrEqual(before);
    expect(lastSuccess).toBeLessThanOrEqual(after);
    const duration = await value('imagehost_sweep_duration_seconds');
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeLessThanOrEqual(after - before);
  });

  it('stops at the next page once its lock is taken away', async () => {
    const lockKey = uniqueName('sweep-lock');
    let removals = 0;
    let lockLost: AbortSignal | undefined;
    // The lock is taken away as the first page ends; the page ends once the holder noticed.
    const watched = Object.assign(Object.create(objects) as ObjectStore, {
      removeObject: async (key: string) => {
        await objects.removeObject(key);
        removals += 1;
        if (removals !== deps.batchSize) return;
        await redis.set(lockKey, 'another-reaper', 'PX', 60_000);
        if (lockLost !== undefined && !lockLost.aborted) await once(lockLost, 'abort', { signal: AbortSignal.timeout(5_000) });
      },
    });
    const completed: number[] = [];
    const reapDeps: ReapDeps = {
      ...deps,
      objects: watched,
      exclusively: (task) =>
        sweepLock(redis, lockKey, { ttlMs: 600, renewEveryMs: 150 })((signal) => {
          lockLost = signal;
          return task(signal);
        }),
      expiryExclusively: sweepLock(redis, uniqueName('expiry-lock'), { ttlMs: 600, renewEveryMs: 150 }),
      sweepCompleted: (seconds) => completed.push(seconds),
    };

    await expect(reap({ target: 'sweep' }, reapDeps)).rejects.toThrow(SweepLockLostError);
    expect(removals).toBe(3);
    // A sweep stopped half-way is no success: the alert on the last one must keep counting.
    expect(completed).toEqual([]);
    expect(await objects.listObjectKeys('images/')).toEqual([...orphans.slice(3), NOT_A_VERSION]);
    expect(await redis.get(lockKey)).toBe('another-reaper');
    await redis.del(lockKey);
    for (const key of orphans) await objects.removeObject(key);
  });
});
