import { randomUUID } from 'node:crypto';
import type { RedisClient } from '@imagehost/jobs';
import { AppError, errorMessage } from '@imagehost/errors';
import type { Logger } from '@imagehost/logging';
import { observeRedisCall, type BackendCallObserver } from '@imagehost/ops';
import { deriveIdempotencySecrets, seal, unseal, type IdempotencySecrets } from './idempotency-key.js';
import type { UploadAnswer } from './submit-version.js';

// The gateway's only use of Redis for Idempotency-Key: one record per key, shared by every
// replica. While the first request runs, the record is a claim (a lease); then it holds the
// answer, sealed, for the TTL. A record holds no key, no digest and no answer in the clear.

const RETRY_AFTER_SECONDS = 5;
const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 250;

type IdempotencyRecord =
  | { readonly state: 'running'; readonly claim: string; readonly check: string }
  | { readonly state: 'answered'; readonly check: string; readonly answer: string };

// Each replaces or removes the record only while it is still this request's claim: a claim
// that outlived its lease may belong to another request now.
const ANSWER_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;
const DROP_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface IdempotentUploadsOptions {
  /** Keeps the records apart from the queues' keys in a shared Redis (QUEUE_PREFIX). */
  readonly keyPrefix: string;
  /** How long an answer is given again (IDEMPOTENCY_TTL_MS). */
  readonly ttlMs: number;
  /**
   * The longest a first request may take once its body is read; its claim lapses then (a
   * gateway that died mid-request must not block the key for the whole TTL), and a
   * concurrent retry waits this long at most.
   */
  readonly claimMs: number;
  readonly log: Logger;
  readonly observeRedisCall?: BackendCallObserver | undefined;
}

/** What a POST with an Idempotency-Key ended in: its own answer, or the first request's given again. */
export interface IdempotentOutcome {
  readonly answer: UploadAnswer;
  readonly replayed: boolean;
}

function unavailable(cause: unknown): AppError {
  return new AppError('BACKEND_UNAVAILABLE', 'the idempotency store (Redis) is unavailable', { cause, retryAfterSeconds: RETRY_AFTER_SECONDS });
}

/**
 * POSTs with an `Idempotency-Key`: the first runs, and a retry with the same key and the same
 * file gets the first's answer instead of a second image — also from another gateway, and
 * also while the first is still running (it waits for the answer, up to `claimMs`, then
 * gets 409). The same key with another file is 422. Redis unreachable: 503.
 */
export class IdempotentUploads {
  constructor(
    /** A client that bounds its commands (`connectRedisFailFast`). */
    private readonly redis: RedisClient,
    private readonly options: IdempotentUploadsOptions,
  ) {}

  /** Refuses at once (503) while Redis is away, before the upload is read. */
  assertAvailable(): void {
    if (this.redis.status !== 'ready') throw unavailable(new Error(`redis is ${this.redis.status}`));
  }

  /**
   * Runs `submit` for the first request with `idempotencyKey`, or gives back the answer it
   * had. `fileBytes` are read before `submit` runs (which may strip them in place).
   */
  async run(idempotencyKey: string, fileBytes: Buffer, submit: () => Promise<UploadAnswer>): Promise<IdempotentOutcome> {
    const secrets = deriveIdempotencySecrets(idempotencyKey, fileBytes);
    const redisKey = `${this.options.keyPrefix}:idempotency:${secrets.recordId}`;
    const waitUntil = performance.now() + this.options.claimMs;
    let pollMs = FIRST_POLL_MS;
    for (;;) {
      const claim = JSON.stringify({ state: 'running', claim: randomUUID(), check: secrets.check } satisfies IdempotencyRecord);
      if ((await this.call('idempotency claim', this.redis.set(redisKey, claim, 'PX', this.options.claimMs, 'NX'))) === 'OK') {
        return { answer: await this.answerFirst(redisKey, claim, secrets, submit), replayed: false };
      }
      const stored = await this.call('idempotency read', this.redis.get(redisKey));
      // Gone between the two calls (a claim lapsed or was dropped): claim it again.
      if (stored === null) continue;
      const record = JSON.parse(stored) as IdempotencyRecord;
      if (record.check !== secrets.check) {
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for another file: use a new key for a new upload');
      }
      if (record.state === 'answered') return { answer: JSON.parse(unseal(secrets.sealingKey, secrets.recordId, record.answer)) as UploadAnswer, replayed: true };
      const waitMs = waitUntil - performance.now();
      if (waitMs <= 0) {
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'a request with this Idempotency-Key is still being processed; retry shortly', {
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, waitMs)));
      pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
    }
  }

  private async answerFirst(redisKey: string, claim: string, secrets: IdempotencySecrets, submit: () => Promise<UploadAnswer>): Promise<UploadAnswer> {
    let answer: UploadAnswer;
    try {
      answer = await submit();
    } catch (error) {
      // Nothing was created: a retry runs afresh.
      await this.call('idempotency drop', this.redis.eval(DROP_CLAIM, 1, redisKey, claim)).catch(() => undefined);
      throw error;
    }
    const record = JSON.stringify({
      state: 'answered',
      check: secrets.check,
      answer: seal(secrets.sealingKey, secrets.recordId, JSON.stringify(answer)),
    } satisfies IdempotencyRecord);
    // The image exists and this client gets its keys whatever happens here; only a retry
    // after a failure here (the claim then lapses) would create a second image.
    try {
      const kept = await this.call('idempotency answer', this.redis.eval(ANSWER_CLAIM, 1, redisKey, claim, record, this.options.ttlMs));
      if (kept !== 1) this.options.log.warn({ imageKey: answer.body.image_key }, 'an idempotent upload outlasted its claim; a retry may create another image');
    } catch (error) {
      this.options.log.warn({ imageKey: answer.body.image_key, err: errorMessage(error) }, 'could not keep an idempotent answer');
    }
    return answer;
  }

  private async call<T>(operation: string, command: Promise<T>): Promise<T> {
    try {
      // The client bounds each command (REDIS_DEADLINE_MS): a hung Redis is a 503 here.
      return await observeRedisCall(this.options.observeRedisCall, operation, command);
    } catch (error) {
      throw unavailable(error);
    }
  }
}
