import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BlocklistRepository, ImageRepository, connectDatabase } from '@imagehost/db';
import { dctHash, perceptualHash } from '@imagehost/image-format/perceptual';
import sharp from 'sharp';
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
let blocklist: BlocklistRepository;

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('ingest') });
  images = new ImageRepository(connection);
  blocklist = new BlocklistRepository(connection);
  objects = new ObjectStore({ ...settings.s3, bucket: uniqueName('ingest') });
  reapQueue = createReapQueue({ redis: { kind: 'server', url: settings.redisUrl }, prefix: uniqueName('q') });
  await Promise.all([images.prepare(), blocklist.prepare(), objects.ensureBucket()]);
  deps = {
    images,
    objects,
    reapQueue,
    limits: { maxUploadBytes: 1_000_000, maxImagePixels: 40_000_000, maxImageSide: 32_767 },
    supersededReapDelayMs: 0,
    blocklist,
    perceptualMatchDistance: 8,
  };
});

afterAll(async () => {
  await reapQueue.obliterate({ force: true });
  await reapQueue.close();
  for (const key of await objects.listObjectKeys()) await objects.removeObject(key);
  await objects.removeBucket();
  await connection.dropDatabase();
  await connection.close();
});

async function uploaded(bytes: Buffer, uploadedSha256?: string): Promise<IngestJobData> {
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
    ...(uploadedSha256 === undefined ? {} : { uploadedSha256 }),
  };
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function expectRefusedAndDiscarded(job: IngestJobData, code: string): Promise<void> {
  await expect(ingestImage(job, deps)).rejects.toMatchObject({ code, retryable: false });
  const reapJobs = await reapQueue.getJobs(['waiting']);
  expect(reapJobs.map((j) => j.data)).toContainEqual({ target: 'object', objectKey: job.objectKey, reason: job.kind === 'create' ? 'refused' : 'raced' });
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

  it('records what a takedown blocks: the SHA-256 as uploaded and the perceptual hashes', async () => {
    const jpeg = await fixtures.scene(3, 160, 120);
    const job = await uploaded(jpeg, 'f'.repeat(64));
    await ingestImage(job, deps);
    expect(await images.findAny(job.imageKey)).toMatchObject({
      sha256: sha256Of(jpeg),
      uploadedSha256: 'f'.repeat(64),
      perceptualHash: await perceptualHash(jpeg),
      perceptualDctHash: await dctHash(jpeg),
    });
    const older = await uploaded(await fixtures.rgbPng());
    await ingestImage(older, deps);
    // A producer that sent no digest of its own: nothing was stripped, so the stored bytes are the uploaded ones.
    expect((await images.findAny(older.imageKey))?.uploadedSha256).toBe((await images.findAny(older.imageKey))?.sha256);
  });
});

describe('ingestImage and the blocklist', () => {
  const base = { imageKey: null, reason: 'legal', note: '', createdAt: new Date() };

  it('refuses bytes whose SHA-256, stored or as uploaded, is blocked: no record, the object discarded', async () => {
    const png = await fixtures.rgbPng(30, 20);
    await blocklist.add([{ ...base, kind: 'sha256', hash: sha256Of(png) }]);
    const job = await uploaded(png);
    await expectRefusedAndDiscarded(job, 'CONTENT_BLOCKED');
    expect(await images.findAny(job.imageKey)).toBeUndefined();

    const other = await fixtures.rgbPng(31, 20);
    const asUploaded = 'c'.repeat(64);
    await blocklist.add([{ ...base, kind: 'sha256', hash: asUploaded }]);
    const stripped = await uploaded(other, asUploaded);
    await expectRefusedAndDiscarded(stripped, 'CONTENT_BLOCKED');
  });

  it('refuses a re-encoded or resized copy of a picture blocked by both hashes, and takes an unrelated one', async () => {
    const original = await fixtures.scene(13);
    await blocklist.add([{ ...base, kind: 'perceptual', hash: await perceptualHash(original), dctHash: await dctHash(original) }]);
    for (const copy of [await sharp(original).jpeg({ quality: 35 }).toBuffer(), await sharp(original).resize(300).png().toBuffer()]) {
      const job = await uploaded(copy);
      await expectRefusedAndDiscarded(job, 'CONTENT_BLOCKED');
      expect(await images.findAny(job.imageKey)).toBeUndefined();
    }
    const unrelated = await uploaded(await fixtures.scene(14));
    expect((await ingestImage(unrelated, deps)).imageKey).toBe(unrelated.imageKey);
  });

  it('refuses copies of a picture blocked by its dHash alone (an entry added by hand)', async () => {
    const original = await fixtures.scene(11);
    await blocklist.add([{ ...base, kind: 'perceptual', hash: await perceptualHash(original) }]);
    for (const copy of [await sharp(original).jpeg({ quality: 35 }).toBuffer(), await sharp(original).resize(300).png().toBuffer()]) {
      const job = await uploaded(copy);
      await expectRefusedAndDiscarded(job, 'CONTENT_BLOCKED');
      expect(await images.findAny(job.imageKey)).toBeUndefined();
    }
    const unrelated = await uploaded(await fixtures.scene(12));
    expect((await ingestImage(unrelated, deps)).imageKey).toBe(unrelated.imageKey);
  });

  it('refuses a replacement of a taken-down image, whoever holds the key, and discards it', async () => {
    const first = await uploaded(await fixtures.scene(21, 100, 80));
    await ingestImage(first, deps);
    const at = new Date();
    await images.takeDown(first.imageKey, { reason: 'abuse', note: '', at, retainUntil: new Date(at.getTime() + 60_000), requestId: 'r' });
    const versionId = generateVersionId();
    const objectKey = objectKeyFor(first.imageKey, versionId);
    await objects.putObject(objectKey, await fixtures.scene(22, 100, 80), 'image/jpeg');
    const replace: IngestJobData = { ...first, kind: 'replace', versionId, objectKey, expectedUpdateKeyHash: first.updateKeyHash };
    await expectRefusedAndDiscarded(replace, 'IMAGE_TAKEN_DOWN');
    expect((await images.findAny(first.imageKey))?.versionId).toBe(first.versionId);
  });
});
