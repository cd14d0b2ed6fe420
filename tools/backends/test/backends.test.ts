import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Client } from 'minio';
import mongoose from 'mongoose';
import { startLocalMongo } from '@imagehost/backends';
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

// The contract's one-winner rule (PATCH vs PATCH, PATCH vs DELETE) rests on MongoDB's
// single-document atomicity: a conditional update either sees the condition and writes, or
// sees someone else's write. A stand-in that reads, filters and writes back lets several
// contenders through (FerretDB v1.24.2 on SQLite did, in most rounds), so this is proved
// on whatever server the suite runs against, with enough rounds to catch a rare interleaving.
describe('MongoDB compare-and-set atomicity', () => {
  const ROUNDS = 200;
  const CONTENDERS = 8;
  const client = new mongoose.mongo.MongoClient(settings.mongoUrl, { maxPoolSize: CONTENDERS * 2 });
  const db = client.db(uniqueName('atomic'));
  const docs = db.collection<{ _id: string; key: string }>('docs');

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  async function roundsWithOneWinner(operation: string, race: (id: string) => Promise<boolean[]>): Promise<{ oneWinner: number; finalKeyOfWinner: number }> {
    let oneWinner = 0;
    let finalKeyOfWinner = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const id = `${operation}-${round}`;
      await docs.insertOne({ _id: id, key: 'k0' });
      const won = await race(id);
      const winners = won.flatMap((w, n) => (w ? [n] : []));
      if (winners.length === 1) oneWinner++;
      // The stored state is the winner's write.
      if (winners.length === 1 && (await docs.findOne({ _id: id }))?.key === `k${(winners[0] ?? -1) + 1}`) finalKeyOfWinner++;
    }
    return { oneWinner, finalKeyOfWinner };
  }

  const contenders = <T>(attempt: (n: number) => Promise<T>) => Promise.all(Array.from({ length: CONTENDERS }, (_, n) => attempt(n)));

  it(`findOneAndUpdate: exactly one of ${CONTENDERS} contenders wins, in each of ${ROUNDS} rounds`, async () => {
    const outcome = await roundsWithOneWinner('findOneAndUpdate', async (id) =>
      (await contenders((n) => docs.findOneAndUpdate({ _id: id, key: 'k0' }, { $set: { key: `k${n + 1}` } }))).map((found) => found !== null),
    );
    expect(outcome).toEqual({ oneWinner: ROUNDS, finalKeyOfWinner: ROUNDS });
  }, 120_000);

  it(`updateOne: exactly one of ${CONTENDERS} contenders modifies, in each of ${ROUNDS} rounds`, async () => {
    const outcome = await roundsWithOneWinner('updateOne', async (id) =>
      (await contenders((n) => docs.updateOne({ _id: id, key: 'k0' }, { $set: { key: `k${n + 1}` } }))).map((result) => result.modifiedCount === 1),
    );
    expect(outcome).toEqual({ oneWinner: ROUNDS, finalKeyOfWinner: ROUNDS });
  }, 120_000);
});

// mongo-java-server's H2 store commits about once a second; the launcher closes it on SIGTERM
// so that a graceful stop (every `npm start` ended with Ctrl-C) keeps every acknowledged write.
describe('the local MongoDB-protocol server', () => {
  it('keeps every acknowledged write across a graceful stop and start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'imagehost-mongo-restart-'));
    try {
      const ids = Array.from({ length: 500 }, (_, n) => `doc${n}`);
      const first = await startLocalMongo(dataDir);
      const writer = new mongoose.mongo.MongoClient(first.url);
      await writer.db('restart').collection<{ _id: string; n: number }>('docs').insertMany(ids.map((_id, n) => ({ _id, n })));
      await writer.db('restart').collection<{ _id: string; n: number }>('docs').updateOne({ _id: 'doc7' }, { $set: { n: -7 } });
      await writer.close();
      await first.process.stop();

      const second = await startLocalMongo(dataDir);
      const reader = new mongoose.mongo.MongoClient(second.url);
      try {
        const docs = reader.db('restart').collection<{ _id: string; n: number }>('docs');
        expect(await docs.countDocuments()).toBe(ids.length);
        expect(await docs.findOne({ _id: 'doc7' })).toEqual({ _id: 'doc7', n: -7 });
        expect(await docs.findOne({ _id: 'doc499' })).toEqual({ _id: 'doc499', n: 499 });
      } finally {
        await reader.close();
        await second.process.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
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
