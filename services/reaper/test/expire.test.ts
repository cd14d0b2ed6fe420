import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase, type ImageRecord } from '@imagehost/db';
import { createIngestQueue, type IngestQueue } from '@imagehost/jobs';
import { generateImageKey, generateVersionId, imageObjectsPrefix, objectKeyFor } from '@imagehost/keys';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { reap, type ReapDeps } from '../src/reap.handler.js';
import { sweepLock } from '../src/sweep-lock.js';

// The expiry purge against real MongoDB-protocol, S3 and Redis servers: every image past its
// expiry goes, bytes and record, over several batches; nothing else is touched; and while
// another reaper holds the expiry lock this one leaves the work to it.

const settings = testBackendSettings();
const redis = new Redis(settings.redisUrl);
const NOW = Date.UTC(2026, 4, 6, 7, 8, 9);
let connection: Connection;
let images: ImageRepository;
let objects: ObjectStore;
let ingestQueue: IngestQueue;
let deps: ReapDeps;
const lockKey = uniqueName('expiry-lock');

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('expire') });
  images = new ImageRepository(connection);
  objects = new ObjectStore({ ...settings.s3, bucket: uniqueName('expire') });
  ingestQueue = createIngestQueue({ redis: { kind: 'server', url: settings.redisUrl }, prefix: uniqueName('expire') });
  await Promise.all([images.prepare(), objects.ensureBucket()]);
  deps = {
    images,
    objects,
    ingestQueue,
    graceMs: 60_000,
    log: createLogger('reaper-test', 'silent'),
    now: () => NOW,
    batchSize: 2,
    exclusively: sweepLock(redis, uniqueName('sweep-lock'), { ttlMs: 30_000 }),
    expiryExclusively: sweepLock(redis, lockKey, { ttlMs: 30_000 }),
  };
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

/** An image with two stored objects (a version and a variant-like second object) and this expiry. */
async function storeImage(expiresAt: Date | null): Promise<string> {
  const imageKey = generateImageKey();
  const versionId = generateVersionId();
  const objectKey = objectKeyFor(imageKey, versionId);
  await objects.putObject(objectKey, Buffer.from('bytes'), 'image/png');
  await objects.putObject(objectKeyFor(imageKey, generateVersionId()), Buffer.from('older'), 'image/png');
  const at = new Date(NOW - 3_600_000);
  const record: ImageRecord = {
    _id: imageKey, versionId, objectKey, contentType: 'image/png', bytes: 5, width: 1, height: 1, sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64), updateKeyHash: 'u'.repeat(64), createdAt: at, updatedAt: at, deletedAt: null, expiresAt,
  };
  await images.insertIfAbsent(record);
  return imageKey;
}

describe('the expiry purge', () => {
  it('removes every expired image, bytes and record, in batches, and leaves the rest', async () => {
    const expired = [];
    for (let n = 0; n < 5; n++) expired.push(await storeImage(new Date(NOW - (n + 1) * 1000)));
    const justExpired = await storeImage(new Date(NOW));
    const later = await storeImage(new Date(NOW + 1));
    const never = await storeImage(null);

    // Another reaper is purging: this one skips, and nothing goes.
    await redis.set(lockKey, 'another-reaper', 'PX', 60_000);
    expect(await reap({ target: 'expire' }, deps)).toEqual({ removedObjects: 0, removedRecords: 0, expired: 0 });
    expect(await images.countAll()).toBe(8);
    await redis.del(lockKey);

    expect(await reap({ target: 'expire' }, deps)).toEqual({ removedObjects: 12, removedRecords: 6, expired: 6 });
    for (const imageKey of [...expired, justExpired]) {
      expect([imageKey, await images.findAny(imageKey), await objects.listObjectKeys(imageObjectsPrefix(imageKey))]).toEqual([imageKey, undefined, []]);
    }
    for (const imageKey of [later, never]) {
      expect(await images.findLive(imageKey)).toMatchObject({ _id: imageKey, deletedAt: null });
      expect(await objects.listObjectKeys(imageObjectsPrefix(imageKey))).toHaveLength(2);
    }
    // Run again: nothing left to do.
    expect(await reap({ target: 'expire' }, deps)).toEqual({ removedObjects: 0, removedRecords: 0, expired: 0 });
  });
});
