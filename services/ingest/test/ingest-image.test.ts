import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { createReapQueue, type IngestJobData, type ReapQueue } from '@imagehost/jobs';
import { generateImageKey, generateVersionId, hashCapabilityKey, generateCapabilityKey, objectKeyFor } from '@imagehost/keys';
import { ObjectStore } from '@imagehost/storage';
import { fixtures, testBackendSettings, truncated, uniqueName } from '@imagehost/testing';
import type { Connection } from 'mongoose';
import { ingestImage, type IngestDeps } from '../src/ingest-image.handler.js';

// The ingest handler against real MongoDB-protocol, S3 and Redis servers.

const settings = testBackendSettings();
let connection: Connection;
let deps: IngestDeps;
let reapQueue: ReapQueue;
let objects: ObjectStore;
let images: ImageRepository;

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('ingest') });
  images = new ImageRepository(connection);
  objects = new ObjectStore({ ...settings.s3, bucket: uniqueName('ingest') });
  reapQueue = createReapQueue({ redis: { kind: 'server', url: settings.redisUrl }, prefix: uniqueName('q') });
  await Promise.all([images.prepare(), objects.ensureBucket()]);
  deps = { images, objects, reapQueue, limits: { maxUploadBytes: 1_000_000, maxImagePixels: 40_000_000, maxImageSide: 32_767 }, supersededReapDelayMs: 0 };
});

afterAll(async () => {
  await reapQueue.obliterate({ force: true });
  await reapQueue.close();
  for (const key of await objects.listObjectKeys()) await objects.removeObject(key);
  await objects.removeBucket();
  await connection.dropDatabase();
  await connection.close();
});

async function uploaded(bytes: Buffer): Promise<IngestJobData> {
  const imageKey = generateImageKey();
  const versionId = generateVersionId();
  const objectKey = objectKeyFor(imageKey, versionId);
  await objects.putObject(objectKey, bytes, 'application/octet-stream');
  return {
    kind: 'create',
    imageKey,
    versionId,
    objectKey,
    deleteKeyHash: hashCapabilityKey(generateCapabilityKey()),
    updateKeyHash: hashCapabilityKey(generateCapabilityKey()),
    acceptedAt: Date.now(),
  };
}

describe('ingestImage', () => {
  it('records the image with its type, size, dimensions, digest and key hashes', async () => {
    const jpeg = await fixtures.progressiveJpeg(70, 50);
    const job = await uploaded(jpeg);
    const result = await ingestImage(job, deps);
    const sha256 = createHash('sha256').update(jpeg).digest('hex');
    expect(result).toEqual({ imageKey: job.imageKey, versionId: job.versionId, contentType: 'image/jpeg', bytes: jpeg.length, width: 70, height: 50, sha256 });
    expect(await images.findLive(job.imageKey)).toMatchObject({
      versionId: job.versionId,
      objectKey: job.objectKey,
      deleteKeyHash: job.deleteKeyHash,
      updateKeyHash: job.updateKeyHash,
      sha256,
      deletedAt: null,
    });
  });

  it('is idempotent: the same job delivered twice, in turn or at once, leaves one record', async () => {
    const png = await fixtures.rgbPng();
    const job = await uploaded(png);
    const first = await ingestImage(job, deps);
    const again = await ingestImage(job, deps);
    expect(again).toEqual(first);

    const raced = await uploaded(await fixtures.baselineJpeg());
    const [a, b] = await Promise.all([ingestImage(raced, deps), ingestImage(raced, deps)]);
    expect(a).toEqual(b);
    const count = await connection.collection('images').countDocuments({ _id: { $in: [job.imageKey, raced.imageKey] } as never });
    expect(count).toBe(2);
  });

  it('refuses a broken image, records nothing and hands its object to the reaper', async () => {
    const job = await uploaded(truncated(await fixtures.baselineJpeg(200, 200)));
    await expect(ingestImage(job, deps)).rejects.toMatchObject({ code: 'IMAGE_UNDECODABLE', retryable: false });
    expect(await images.findAny(job.imageKey)).toBeUndefined();
    const reapJobs = await reapQueue.getJobs(['waiting']);
    expect(reapJobs.map((j) => j.data)).toContainEqual({ target: 'object', objectKey: job.objectKey, reason: 'refused' });
  });

  it('refuses an object larger than the upload limit without reading all of it', async () => {
    const job = await uploaded(Buffer.alloc(1_000_001, 0xff));
    const error = await ingestImage(job, deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    expect(await images.findAny(job.imageKey)).toBeUndefined();
  });
});
