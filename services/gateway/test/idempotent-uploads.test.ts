import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { AppError } from '@imagehost/errors';
import { createLogger } from '@imagehost/logging';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { deriveIdempotencySecrets } from '../src/uploads/idempotency-key.js';
import { IdempotentUploads } from '../src/uploads/idempotent-uploads.js';
import type { UploadAnswer } from '../src/uploads/submit-version.js';

// The idempotency store on the real Redis, with a short claim: what a retry sees while the
// first request runs, after it failed, and after its gateway died mid-request.

const CLAIM_MS = 600;
let redis: Redis;
let uploads: IdempotentUploads;
const PREFIX = uniqueName('idem');
const file = Buffer.from('the bytes of one photo');

beforeAll(async () => {
  redis = new Redis(testBackendSettings().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await new Promise((resolve) => redis.once('ready', resolve));
  uploads = new IdempotentUploads(redis, { keyPrefix: PREFIX, ttlMs: 60_000, claimMs: CLAIM_MS, log: createLogger('test', 'silent') });
});

afterAll(() => {
  redis.disconnect();
});

const answer = (imageKey: string): UploadAnswer => ({ status: 201, body: { image_key: imageKey, delete_key: `delete-${imageKey}` } });
const never = () => new Promise<UploadAnswer>(() => undefined);

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'answered';
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return `${error.statusCode} ${error.code}`;
  }
}

/** Work that runs until `finish` is called; `started` resolves once it runs (the key is claimed by then). */
function heldWork() {
  let finish: (value: UploadAnswer) => void = () => undefined;
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const work = () => {
    markStarted();
    return new Promise<UploadAnswer>((resolve) => (finish = resolve));
  };
  return { work, started, finish: (value: UploadAnswer) => finish(value) };
}

describe('IdempotentUploads', () => {
  it('a retry during the first request waits for its answer', async () => {
    const key = randomUUID();
    const held = heldWork();
    const first = uploads.run(key, file, held.work);
    await held.started;
    let ranSecond = false;
    const retry = uploads.run(key, Buffer.from(file), async () => {
      ranSecond = true;
      return answer('second');
    });
    // The first request's remaining run time is the behaviour under test: the retry waits through it.
    setTimeout(() => held.finish(answer('first')), 200);
    expect(await first).toEqual({ answer: answer('first'), replayed: false });
    expect(await retry).toEqual({ answer: answer('first'), replayed: true });
    expect(ranSecond).toBe(false);
  });

  it('a claim that lapsed (its gateway died) is taken over by a retry; the first answering late changes nothing', async () => {
    const key = randomUUID();
    const held = heldWork();
    const first = uploads.run(key, file, held.work);
    await held.started;
    const started = performance.now();
    expect(await uploads.run(key, file, async () => answer('second'))).toEqual({ answer: answer('second'), replayed: false });
    expect(performance.now() - started).toBeGreaterThanOrEqual(CLAIM_MS - 100);
    held.finish(answer('first'));
    expect(await first).toEqual({ answer: answer('first'), replayed: false });
    expect(await uploads.run(key, file, never)).toEqual({ answer: answer('second'), replayed: true });
  });

  it('a retry still waiting when its wait ends is told 409, with Retry-After', async () => {
    const key = randomUUID();
    // Another gateway's claim, longer than this one waits.
    const { recordId, check } = deriveIdempotencySecrets(key, file);
    await redis.set(`${PREFIX}:idempotency:${recordId}`, JSON.stringify({ state: 'running', claim: 'elsewhere', check }), 'PX', 10_000);
    const started = performance.now();
    let error: unknown;
    await uploads.run(key, file, async () => answer('second')).catch((thrown: unknown) => (error = thrown));
    expect(error).toBeInstanceOf(AppError);
    expect({ code: (error as AppError).code, status: (error as AppError).statusCode, retryAfter: (error as AppError).retryAfterSeconds }).toEqual({
      code: 'IDEMPOTENCY_KEY_IN_USE',
      status: 409,
      retryAfter: 5,
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(CLAIM_MS - 5);
  });

  it('after the first request failed, a retry runs afresh', async () => {
    const key = randomUUID();
    expect(await codeOf(uploads.run(key, file, () => Promise.reject(new AppError('IMAGE_UNDECODABLE', 'broken'))))).toBe('422 IMAGE_UNDECODABLE');
    expect(await uploads.run(key, file, async () => answer('retried'))).toEqual({ answer: answer('retried'), replayed: false });
  });

  it('the same key with another file is 422, also while the first runs', async () => {
    const key = randomUUID();
    const held = heldWork();
    void uploads.run(key, file, held.work);
    await held.started;
    expect(await codeOf(uploads.run(key, Buffer.from('other bytes'), async () => answer('other')))).toBe('422 IDEMPOTENCY_KEY_REUSED');
  });
});
