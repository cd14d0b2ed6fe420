import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Client } from 'minio';
import mongoose from 'mongoose';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

// Proof that the three backends the suite runs against are real servers speaking their
// protocols, whichever way they were found (environment, containers or local processes).
const settings = testBackendSettings();

describe('Redis through BullMQ', () => {
  it('carries a job from a producer to a consumer and its result back', async () => {
    const connection = { url: settings.redisUrl, maxRetriesPerRequest: null };
    const prefix = uniqueName('bull');
    const queue = new Queue<{ n: number }, { doubled: number }>('proof', { connection, prefix });
    // From the stream's start: '$' (the default) would miss an event written before the
    // first read is issued, which a loaded machine makes possible.
    const events = new QueueEvents('proof', { connection, prefix, lastEventId: '0-0' });
    const seen: number[] = [];
    const worker = new Worker<{ n: number }, { doubled: number }>(
      'proof',
      async (job) => {
        seen.push(job.data.n);
        return { doubled: job.data.n * 2 };
      },
      { connection, prefix },
    );
    try {
      await events.waitUntilReady();
      const job = await queue.add('double', { n: 21 });
      const result = await job.waitUntilFinished(events, 20_000);
      expect(result).toEqual({ doubled: 42 });
      expect(seen).toEqual([21]);
      expect(await queue.getJobCounts('completed', 'waiting', 'failed')).toMatchObject({ completed: 1, waiting: 0, failed: 0 });
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

describe('MongoDB protocol through mongoose', () => {
  const connection = mongoose.createConnection(settings.mongoUrl, { dbName: uniqueName('proof') });
  const Thing = connection.model(
    'Thing',
    new mongoose.Schema({ name: { type: String, required: true, unique: true }, count: { type: Number, required: true } }),
  );

  afterAll(async () => {
    await connection.dropDatabase();
    await connection.close();
  });

  it('inserts, reads, updates with a condition and reports a unique-index violation', async () => {
    await Thing.init();
    await Thing.create({ name: 'a', count: 1 });
    expect(await Thing.findOne({ name: 'a' }).lean()).toMatchObject({ name: 'a', count: 1 });

    // A compare-and-set: only applies while the condition still holds.
    const applied = await Thing.updateOne({ name: 'a', count: 1 }, { $set: { count: 2 } });
    const refused = await Thing.updateOne({ name: 'a', count: 1 }, { $set: { count: 3 } });
    expect(applied.modifiedCount).toBe(1);
    expect(refused.matchedCount).toBe(0);
    expect((await Thing.findOne({ name: 'a' }).lean())?.count).toBe(2);

    await expect(Thing.create({ name: 'a', count: 9 })).rejects.toMatchObject({ code: 11000 });
    expect(await Thing.countDocuments()).toBe(1);
  });
});

// The local FerretDB carries our fix to its SQLite backend (libs/backends/ferretdb/_overrides):
// every GET looks an image up by `_id`, and every PATCH or DELETE is a compare-and-set on
// `_id` plus a key hash, so both must use the `_id` index rather than read the whole table.
describe('FerretDB lookups by _id', () => {
  const client = new mongoose.mongo.MongoClient(settings.mongoUrl);
  const db = client.db(uniqueName('plan'));

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('use the _id index, alone and beside other conditions, and still apply every condition', async () => {
    const images = db.collection<{ _id: string; keyHash: string; deletedAt: Date | null }>('images');
    await images.insertMany(Array.from({ length: 50 }, (_, n) => ({ _id: `image${n}`, keyHash: `hash${n}`, deletedAt: null })));
    const plan = async (filter: Record<string, unknown>) => {
      const explained = (await images.find(filter).explain()) as { queryPlanner?: { Plan?: string[] }; serverInfo?: { ferretdbVersion?: string } };
      return explained.serverInfo?.ferretdbVersion === undefined ? undefined : (explained.queryPlanner?.Plan ?? []).join(' ');
    };
    const alone = await plan({ _id: 'image40' });
    if (alone === undefined) return; // a real MongoDB (from MONGO_URL) always has this index
    expect(alone).toMatch(/SEARCH \S+ USING INDEX \S+__id_/);
    expect(await plan({ _id: 'image40', keyHash: 'hash40', deletedAt: null })).toMatch(/SEARCH \S+ USING INDEX \S+__id_/);
    // A batch of lookups by key (the gateway's reads): one search of the index per key.
    expect(await plan({ _id: { $in: ['image3', 'image40', 'absent'] } })).toMatch(/SEARCH \S+ USING INDEX \S+__id_/);
    const batch = await images.find({ _id: { $in: ['image3', 'image40', 'absent', 'image40'] }, keyHash: { $ne: 'hash3' } }).toArray();
    expect(batch.map((image) => image._id)).toEqual(['image40']);
    // Only strings and ObjectIDs are narrowed; other values still match as MongoDB says.
    expect(await images.countDocuments({ _id: { $in: ['image1', /^image4\d$/] } })).toBe(11);

    // Narrowed by _id, the other conditions still decide.
    expect(await images.findOne({ _id: 'image40', keyHash: 'hash41' })).toBeNull();
    expect((await images.updateOne({ _id: 'image40', keyHash: 'hash41' }, { $set: { deletedAt: new Date() } })).matchedCount).toBe(0);
    expect((await images.updateOne({ _id: 'image40', keyHash: 'hash40', deletedAt: null }, { $set: { deletedAt: new Date() } })).modifiedCount).toBe(1);
    expect((await images.updateOne({ _id: 'image40', keyHash: 'hash40', deletedAt: null }, { $set: { deletedAt: new Date() } })).matchedCount).toBe(0);
    expect(await images.countDocuments({ deletedAt: null })).toBe(49);
  });
});

describe('S3 through the minio client', () => {
  const endpoint = new URL(settings.s3.endpoint);
  const client = new Client({
    endPoint: endpoint.hostname,
    port: Number(endpoint.port),
    useSSL: endpoint.protocol === 'https:',
    accessKey: settings.s3.accessKey,
    secretKey: settings.s3.secretKey,
    region: settings.s3.region,
    pathStyle: true,
  });
  const bucket = uniqueName('proof');

  afterAll(async () => {
    await client.removeBucket(bucket).catch(() => undefined);
  });

  it('puts an object, reads it back byte for byte, range-reads it and deletes it', async () => {
    await client.makeBucket(bucket, settings.s3.region);
    const bytes = randomBytes(300_000);
    await client.putObject(bucket, 'v/one', bytes, bytes.length, { 'Content-Type': 'application/octet-stream' });

    const whole = await readAll(await client.getObject(bucket, 'v/one'));
    expect(whole.equals(bytes)).toBe(true);

    const range = await readAll(await client.getPartialObject(bucket, 'v/one', 1000, 24));
    expect(range.equals(bytes.subarray(1000, 1024))).toBe(true);

    expect((await client.statObject(bucket, 'v/one')).size).toBe(bytes.length);
    await client.removeObject(bucket, 'v/one');
    await expect(client.statObject(bucket, 'v/one')).rejects.toMatchObject({ code: 'NotFound' });
  });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
