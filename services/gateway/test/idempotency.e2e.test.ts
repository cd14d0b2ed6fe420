import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { imageObjectsPrefix } from '@imagehost/keys';
import { FaultProxy, TestStack, fixtures, freePort, multipartBody, request, testBackendSettings, waitFor, type HttpResult } from '@imagehost/testing';

// Idempotency-Key on POST across two real gateway processes sharing Redis: a retry gets the
// first answer and creates nothing; concurrent requests with one key make one image; the
// answers kept in Redis give no key away.

let stack: TestStack;
let second: string;
let redis: Redis;

async function startGateway(env: Record<string, string> = {}): Promise<string> {
  const port = await freePort();
  await (await stack.startService('gateway', { PORT: String(port), ...env })).waitUntilServing();
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  stack = await TestStack.start();
  second = await startGateway();
  redis = new Redis(testBackendSettings().redisUrl, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis.disconnect();
  await stack.stop();
});

interface Answer {
  image_key: string;
  delete_key: string;
  update_key: string;
}

/** A POST of `bytes` with `key`; each call builds its own form (its own boundary and filename), as a retrying client would. */
async function post(base: string, bytes: Buffer, key: string | undefined, filename = `photo-${randomUUID()}.jpg`): Promise<HttpResult> {
  const { body, contentType } = multipartBody([{ name: 'image', filename, bytes }]);
  return request(`${base}/`, { method: 'POST', body, headers: { 'content-type': contentType, ...(key === undefined ? {} : { 'idempotency-key': key }) } });
}

/** Distinct image bytes for each `n`. */
const imageNumber = (n: number) => fixtures.baselineJpeg(32 + (n % 40), 24 + Math.floor(n / 40));

/** Images not deleted (the first test deletes one, which the reaper then purges). */
async function liveImages(): Promise<number> {
  return (await stack.liveRecords()).length;
}

async function idempotencyRecords(): Promise<string[]> {
  const names = await redis.keys(`${stack.env.QUEUE_PREFIX}:idempotency:*`);
  return Promise.all(names.map(async (name) => `${name} ${(await redis.get(name)) ?? ''}`));
}

describe('a retry with the same Idempotency-Key', () => {
  it('gets the first answer again, from either gateway, and creates nothing new', async () => {
    const key = randomUUID();
    const jpeg = await imageNumber(0);
    const first = await post(stack.baseUrl, jpeg, `"${key}"`);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const answer = first.json as unknown as Answer;

    for (const [base, header] of [[stack.baseUrl, `"${key}"`], [second, key], [second, `"${key}"`]] as const) {
      const retried = await post(base, jpeg, header);
      expect(retried.status).toBe(201);
      expect(retried.json).toEqual(first.json);
      expect(retried.headers.get('idempotent-replayed')).toBe('true');
      expect(retried.headers.get('location')).toBe(`/${answer.image_key}`);
    }
    expect(await stack.objects.listObjectKeys(imageObjectsPrefix(answer.image_key))).toHaveLength(1);
    expect(await liveImages()).toBe(1);
    // The keys work: the answer was the real one.
    const deleted = await request(stack.url(`/${answer.image_key}`), { method: 'DELETE', headers: { 'x-delete-key': answer.delete_key } });
    expect(deleted.status).toBe(200);
  });

  it('and another file is 422, creating nothing; a new key is a new upload', async () => {
    const key = randomUUID();
    const first = await post(stack.baseUrl, await imageNumber(1), key);
    expect(first.status).toBe(201);
    const before = await liveImages();
    for (const base of [stack.baseUrl, second]) {
      const refused = await post(base, await imageNumber(2), key);
      expect({ status: refused.status, body: refused.json }).toEqual({
        status: 422,
        body: { statusCode: 422, error: 'Unprocessable Entity', code: 'IDEMPOTENCY_KEY_REUSED', message: expect.any(String) },
      });
    }
    expect(await liveImages()).toBe(before);
    const fresh = await post(second, await imageNumber(2), randomUUID());
    expect(fresh.status).toBe(201);
    expect((fresh.json as unknown as Answer).image_key).not.toBe((first.json as unknown as Answer).image_key);
  });

  it('keeps no key in the clear in Redis: not the capability keys, not the image key, not the Idempotency-Key', async () => {
    const key = randomUUID();
    const jpeg = await imageNumber(3);
    const answer = (await post(stack.baseUrl, jpeg, key)).json as unknown as Answer;
    const records = await idempotencyRecords();
    expect(records.length).toBeGreaterThan(0);
    const everything = records.join('\n');
    const digest = createHash('sha256').update(jpeg).digest();
    for (const secret of [answer.delete_key, answer.update_key, answer.image_key, key, digest.toString('hex'), digest.toString('base64url')]) {
      expect([secret, everything.includes(secret)]).toEqual([secret, false]);
    }
  });

  it('refuses an invalid header with 400 before reading the upload, creating nothing', async () => {
    const before = await liveImages();
    for (const header of ['', 'short', 'k'.repeat(256), `${randomUUID()}, ${randomUUID()}`]) {
      const refused = await post(second, await imageNumber(4), header);
      expect([header, refused.status, refused.json?.code]).toEqual([header, 400, 'INVALID_IDEMPOTENCY_KEY']);
    }
    expect(await liveImages()).toBe(before);
  });
});

describe('two POSTs with one Idempotency-Key from two gateways at once', () => {
  const ROUNDS = 30;

  it(`make one image and tell both clients the same, in each of ${ROUNDS} rounds`, async () => {
    const recordsBefore = await liveImages();
    const imageKeys = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const key = randomUUID();
      const jpeg = await imageNumber(100 + round);
      const [a, b] = await Promise.all([post(stack.baseUrl, jpeg, key), post(second, jpeg, key)]);
      expect([round, a.status, b.status]).toEqual([round, 201, 201]);
      expect(b.json).toEqual(a.json);
      // One ran, the other was told its answer.
      expect([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')].sort()).toEqual(['true', null].sort());
      const { image_key: imageKey } = a.json as unknown as Answer;
      imageKeys.add(imageKey);
      expect([round, (await stack.objects.listObjectKeys(imageObjectsPrefix(imageKey))).length]).toEqual([round, 1]);
    }
    expect(imageKeys.size).toBe(ROUNDS);
    expect(await liveImages()).toBe(recordsBefore + ROUNDS);
    // Every object in the bucket belongs to a recorded image: no second upload slipped through.
    const disagreements = await stack.disagreements();
    expect(disagreements.objectsWithoutRecord.filter((object) => [...imageKeys].some((imageKey) => object.includes(imageKey)))).toEqual([]);
  });
});

describe('a retry while the first request still waits for ingest', () => {
  it('waits for the first answer (a 202 here) and is told the same', async () => {
    // No ingest worker: the first POST waits INGEST_WAIT_MS, then answers 202.
    const slow = await TestStack.start({ services: ['gateway'], env: { INGEST_WAIT_MS: '1500' } });
    try {
      const port = await freePort();
      await (await slow.startService('gateway', { PORT: String(port) })).waitUntilServing();
      const key = randomUUID();
      const jpeg = await imageNumber(6);
      const first = post(slow.baseUrl, jpeg, key);
      // The retry comes while the first is waiting for its ingest: its job is queued.
      await waitFor('the first upload to be queued', async () => ((await slow.ingestQueue.getJobCounts('waiting')).waiting === 1 ? true : undefined), 5_000, 10);
      const retried = await post(`http://127.0.0.1:${port}`, jpeg, key);
      const answered = await first;
      expect([answered.status, retried.status]).toEqual([202, 202]);
      expect(retried.json).toEqual(answered.json);
      expect(retried.headers.get('idempotent-replayed')).toBe('true');
      expect(await slow.objectKeys()).toHaveLength(1);
      expect((await slow.ingestQueue.getJobCounts('waiting')).waiting).toBe(1);
    } finally {
      await slow.stop();
    }
  });
});

describe('Redis unavailable', () => {
  it('answers 503 with Retry-After, hung or refusing, and stores nothing', async () => {
    const settings = testBackendSettings();
    const url = new URL(settings.redisUrl);
    const proxy = await FaultProxy.start({ host: url.hostname, port: Number(url.port) });
    try {
      const faulty = await startGateway({ REDIS_URL: proxy.proxiedUrl(settings.redisUrl) });
      const objectsBefore = await stack.objectKeys();
      for (const mode of ['blackhole', 'refuse'] as const) {
        proxy.setMode(mode);
        const started = Date.now();
        const refused = await post(faulty, await imageNumber(5), randomUUID());
        expect([mode, refused.status, refused.json?.code]).toEqual([mode, 503, 'BACKEND_UNAVAILABLE']);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(Date.now() - started).toBeLessThan(10_000);
      }
      proxy.setMode('pass');
      expect((await stack.objectKeys()).filter((object) => !objectsBefore.includes(object))).toEqual([]);
    } finally {
      proxy.setMode('pass');
      await proxy.stop();
    }
  });
});
