import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { RedisClient } from '@imagehost/jobs';
import { AppError } from '@imagehost/errors';
import { observeRedisCall, type BackendCallObserver } from '@imagehost/ops';
import { isUploadRequest } from './uploads-in-progress.js';

export interface RateLimitOptions {
  /** Uploads (POST and PATCH) per client address per minute; 0 turns the rule off. */
  readonly uploadsPerMinute: number;
  /** Refused keys (401/403 on PATCH and DELETE) per client address per 10 minutes; 0 turns it off. */
  readonly keyFailuresPer10Minutes: number;
  /** Abuse reports per client address per hour; 0 turns the rule off. */
  readonly reportsPerHour: number;
  /**
   * Counters in Redis hold across every gateway replica; without it they are per process
   * (in-process tests). The client must bound its commands (REDIS_DEADLINE_MS): while Redis
   * does not answer, an upload is refused 503 at once (it could not be queued anyway), and a
   * PATCH or DELETE goes on uncounted (a DELETE needs no Redis).
   */
  readonly redis?: RedisClient;
  /** Keeps the counters apart from the queues' keys in a shared Redis. */
  readonly keyPrefix: string;
  /** Times each count in Redis (`imagehost_backend_call_duration_seconds{backend="redis"}`). */
  readonly observeRedisCall?: BackendCallObserver | undefined;
}

/** `POST /{image_key}/report`. */
function isReportRequest(request: FastifyRequest): boolean {
  return request.method === 'POST' && request.routeOptions.url === '/:imageKey/report';
}

interface Rule {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

type Check = (request: FastifyRequest, options?: { increment: false }) => Promise<{ remaining?: number; ttl?: number; isExceeded?: boolean }>;

/** The IETF RateLimit fields, in their widely deployed form, plus the policy. */
function setHeaders(reply: FastifyReply, rule: Rule, remaining: number, resetMs: number): void {
  void reply.headers({
    'ratelimit-limit': String(rule.limit),
    'ratelimit-remaining': String(remaining),
    'ratelimit-reset': String(Math.ceil(resetMs / 1000)),
    'ratelimit-policy': `${rule.limit};w=${Math.round(rule.windowMs / 1000)}`,
  });
}

function refusal(what: string, resetMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(resetMs / 1000));
  return new AppError('RATE_LIMITED', `too many ${what}; retry in ${seconds} s`, { retryAfterSeconds: seconds });
}

/**
 * Per-address limits on uploads, on abuse reports and on refused keys (401/403 for a missing or wrong key), counted by `@fastify/rate-limit` in
 * fixed windows that start at a client's first counted request. Uploads are counted before
 * their body is read; a client that used up its key failures is refused before its PATCH or
 * DELETE is looked at, so guessing keys costs attempts.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, options: RateLimitOptions) => {
    await app.register(rateLimit, {
      global: false,
      ...(options.redis === undefined ? {} : { redis: options.redis, nameSpace: `${options.keyPrefix}:ratelimit:` }),
    });
    const counter = (rule: Rule): Check | undefined => {
      if (rule.limit === 0) return undefined;
      const check = app.createRateLimit({ max: rule.limit, timeWindow: rule.windowMs, keyGenerator: (request) => `${rule.name}:${request.ip}` }) as Check;
      return (request, callOptions) => observeRedisCall(options.observeRedisCall, `rate limit ${rule.name}`, check(request, callOptions));
    };
    const uploadRule: Rule = { name: 'uploads', limit: options.uploadsPerMinute, windowMs: 60_000 };
    const keyFailureRule: Rule = { name: 'key-failures', limit: options.keyFailuresPer10Minutes, windowMs: 600_000 };
    const reportRule: Rule = { name: 'reports', limit: options.reportsPerHour, windowMs: 3_600_000 };
    const uploads = counter(uploadRule);
    const keyFailures = counter(keyFailureRule);
    const reports = counter(reportRule);

    app.addHook('onRequest', async (request, reply) => {
      if (isUploadRequest(request) && uploads !== undefined) {
        const { remaining = uploadRule.limit, ttl = uploadRule.windowMs, isExceeded = false } = await uploads(request).catch((error: unknown) => {
          throw new AppError('BACKEND_UNAVAILABLE', 'the upload queue is unavailable', { cause: error, retryAfterSeconds: 5 });
        });
        setHeaders(reply, uploadRule, remaining, ttl);
        if (isExceeded) throw refusal('uploads', ttl);
      }
      if (isReportRequest(request) && reports !== undefined) {
        // Refused while Redis does not answer: reports are what abuse of the reporting itself uses.
        const { remaining = reportRule.limit, ttl = reportRule.windowMs, isExceeded = false } = await reports(request).catch((error: unknown) => {
          throw new AppError('BACKEND_UNAVAILABLE', 'reports cannot be taken right now', { cause: error, retryAfterSeconds: 5 });
        });
        setHeaders(reply, reportRule, remaining, ttl);
        if (isExceeded) throw refusal('reports', ttl);
      }
      if ((request.method === 'PATCH' || request.method === 'DELETE') && keyFailures !== undefined) {
        // Uncounted while Redis does not answer: a DELETE needs no Redis, and must not fail with it.
        const { remaining = keyFailureRule.limit, ttl = keyFailureRule.windowMs } = await keyFailures(request, { increment: false }).catch((): Awaited<ReturnType<Check>> => ({}));
        if (remaining === 0) {
          setHeaders(reply, keyFailureRule, 0, ttl);
          throw refusal('failed key attempts', ttl);
        }
      }
    });
    // Only a missing or wrong key is counted: another 403 (a page of an origin outside
    // CORS_ORIGINS) guesses nothing.
    const keyRefused = new WeakSet<FastifyRequest>();
    app.addHook('onError', async (request, _reply, error) => {
      if (error instanceof AppError && (error.code === 'KEY_MISSING' || error.code === 'KEY_INVALID')) keyRefused.add(request);
    });
    app.addHook('onResponse', async (request) => {
      if ((request.method === 'PATCH' || request.method === 'DELETE') && keyRefused.has(request)) {
        await keyFailures?.(request).catch(() => undefined);
      }
    });
  },
  { name: 'imagehost-rate-limit' },
);
