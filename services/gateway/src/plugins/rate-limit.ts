import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { RedisClient } from '@imagehost/jobs';
import { AppError } from '@imagehost/errors';
import { isUploadRequest } from './uploads-in-progress.js';

export interface RateLimitOptions {
  /** Uploads (POST and PATCH) per client address per minute; 0 turns the rule off. */
  readonly uploadsPerMinute: number;
  /** Refused keys (401/403 on PATCH and DELETE) per client address per 10 minutes; 0 turns it off. */
  readonly keyFailuresPer10Minutes: number;
  /**
   * Counters in Redis hold across every gateway replica; without it they are per process
   * (in-process tests). While Redis does not answer, requests go through: an outage must not
   * turn into a refusal of service, and uploads fail on their own without the queue.
   */
  readonly redis?: RedisClient;
  /** Keeps the counters apart from the queues' keys in a shared Redis. */
  readonly keyPrefix: string;
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
 * Per-address limits on uploads and on refused keys, counted by `@fastify/rate-limit` in
 * fixed windows that start at a client's first counted request. Uploads are counted before
 * their body is read; a client that used up its key failures is refused before its PATCH or
 * DELETE is looked at, so guessing keys costs attempts.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, options: RateLimitOptions) => {
    await app.register(rateLimit, {
      global: false,
      skipOnError: true,
      ...(options.redis === undefined ? {} : { redis: options.redis, nameSpace: `${options.keyPrefix}:ratelimit:` }),
    });
    const counter = (rule: Rule): Check | undefined =>
      rule.limit === 0
        ? undefined
        : (app.createRateLimit({ max: rule.limit, timeWindow: rule.windowMs, keyGenerator: (request) => `${rule.name}:${request.ip}` }) as Check);
    const uploadRule: Rule = { name: 'uploads', limit: options.uploadsPerMinute, windowMs: 60_000 };
    const keyFailureRule: Rule = { name: 'key-failures', limit: options.keyFailuresPer10Minutes, windowMs: 600_000 };
    const uploads = counter(uploadRule);
    const keyFailures = counter(keyFailureRule);

    app.addHook('onRequest', async (request, reply) => {
      if (isUploadRequest(request) && uploads !== undefined) {
        const { remaining = uploadRule.limit, ttl = uploadRule.windowMs, isExceeded = false } = await uploads(request);
        setHeaders(reply, uploadRule, remaining, ttl);
        if (isExceeded) throw refusal('uploads', ttl);
      }
      if ((request.method === 'PATCH' || request.method === 'DELETE') && keyFailures !== undefined) {
        const { remaining = keyFailureRule.limit, ttl = keyFailureRule.windowMs } = await keyFailures(request, { increment: false });
        if (remaining === 0) {
          setHeaders(reply, keyFailureRule, 0, ttl);
          throw refusal('failed key attempts', ttl);
        }
      }
    });
    app.addHook('onResponse', async (request, reply) => {
      if ((request.method === 'PATCH' || request.method === 'DELETE') && (reply.statusCode === 401 || reply.statusCode === 403)) {
        await keyFailures?.(request);
      }
    });
  },
  { name: 'imagehost-rate-limit' },
);
