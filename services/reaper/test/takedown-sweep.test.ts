import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase, type ImageRecord } from '@imagehost/db';
import { createIngestQueue, type IngestQueue } from '@imagehost/jobs';
import { generateImageKey, generateVersionId, objectKeyFor, quarantineKeyFor } from '@imagehost/keys';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { sweep, type SweepDeps } from '../src/sweep.handler.js';

// What the sweep does for takedowns, against real MongoDB-protocol, S3 and Redis servers:
// purges those past their retention (bytes, then record), finishes a takedown that left a
// version in the served location, and removes quarantined bytes no takedown accounts for.

const settings = testBackendSettings();
let connection: Connection;
let images: ImageRepository;
let objects: ObjectStore;
let ingestQueue: IngestQueue;
let deps: SweepDeps;
const NOW = Date.now() + 120_000;

function record(imageKey: string, versionId: string): ImageRecord {
  const at = new Date(NOW - 3600_000);
  return {
    _id: imageKey,
    versionId,
    objectKey: objectKeyFor(imageKey, versionId),
    contentType: 'image/png',
    bytes: 1,
    width: 1,
    height: 1,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: at,
    updatedAt: at,
    deletedAt: null,
  };
}

/** An image with one version, taken down with its retention ending `retainForMs` after NOW. */
async function takenDown(retainForMs: number): Promise<{ imageKey: string; versionId: string }> {
  const imageKey = generateImageKey();
  const versionId = generateVersionId();
  await images.insertIfAbsent(record(imageKey, versionId));
  await images.takeDown(imageKey, { reason: 'legal', note: '', at: new Date(NOW - 1000), retainUntil: new Date(NOW + retainForMs), requestId: 'r' });
  return { imageKey, versionId };
}

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('takedown-sweep') });
  images = new ImageRepository(connection);
  objects = new ObjectStore({ ...settings.s3, bucket: uniqueName('takedown-sweep') });
  ingestQueue = createIngestQueue({ redis: { kind: 'server', url: settings.redisUrl }, prefix: uniqueName('takedown-sweep') });
  await Promise.all([images.prepare(), objects.ensureBucket()]);
  deps = { images, objects, ingestQueue, graceMs: 60_000, log: createLogger('reaper-test', 'silent'), now: () => NOW, batchSize: 2 };
});

afterAll(async () => {
  for (const key of await objects.listObjectKeys()) await objects.removeObject(key);
  await objects.removeBucket();
  await ingestQueue.obliterate({ force: true });
  await ingestQueue.close();
  await connection.dropDatabase();
  await connection.close();
});

describe('the sweep and takedowns', () => {
  it('purges every takedown past its retention, in batches, and leaves those within it', async () => {
    const expired = await Promise.all([takenDown(-3000), takenDown(-2000), takenDown(-1000)]);
    const kept = await takenDown(60_000);
    for (const { imageKey, versionId } of [...expired, kept]) await objects.putObject(quarantineKeyFor(imageKey, versionId), Buffer.from('evidence'), 'image/png');
    // A version that raced the takedown into the served location is purged with it.
    await objects.putObject(objectKeyFor(expired[0]?.imageKey ?? '', generateVersionId()), Buffer.from('late'), 'image/png');

    const result = await sweep(deps);
    expect(result).toMatchObject({ removedRecords: 3 });
    for (const { imageKey } of expired) {
      expect(await images.findAny(imageKey)).toBeUndefined();
      expect(await objects.listObjectKeys(`quarantine/${imageKey}/`)).toEqual([]);
      expect(await objects.listObjectKeys(`images/${imageKey}/`)).toEqual([]);
    }
    expect(await objects.listObjectKeys(`quarantine/${kept.imageKey}/`)).toEqual([quarantineKeyFor(kept.imageKey, kept.versionId)]);
    expect((await images.findAny(kept.imageKey))?.takedown).not.toBeNull();
    // Idempotent: a second sweep finds nothing more to do for them.
    expect(await sweep(deps)).toMatchObject({ removedRecords: 0, quarantined: 0 });
  });

  it('moves a version a takedown left in the served location to quarantine, byte for byte', async () => {
    const { imageKey, versionId } = await takenDown(60_000);
    await objects.putObject(objectKeyFor(imageKey, versionId), Buffer.from('left behind'), 'image/png');
    expect(await sweep(deps)).toMatchObject({ quarantined: 1 });
    expect(await objects.listObjectKeys(`images/${imageKey}/`)).toEqual([]);
    expect((await objects.readObject(quarantineKeyFor(imageKey, versionId), 100))?.toString()).toBe('left behind');
  });

  it('removes quarantined bytes of images no longer taken down, or gone', async () => {
    const restoredKey = generateImageKey();
    const restoredVersion = generateVersionId();
    await images.insertIfAbsent(record(restoredKey, restoredVersion));
    const stray = [quarantineKeyFor(restoredKey, generateVersionId()), quarantineKeyFor(generateImageKey(), generateVersionId())];
    for (const key of stray) await objects.putObject(key, Buffer.from('stray'), 'image/png');
    const { imageKey, versionId } = await takenDown(60_000);
    await objects.putObject(quarantineKeyFor(imageKey, versionId), Buffer.from('evidence'), 'image/png');

    await sweep(deps);
    for (const key of stray) expect(await objects.objectMetadata(key)).toBeUndefined();
    expect(await objects.objectMetadata(quarantineKeyFor(imageKey, versionId))).toBeDefined();
  });
});
