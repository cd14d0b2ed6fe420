import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '@imagehost/errors';
import type { Logger } from '@imagehost/logging';

export interface RateLimitRule {
  /** A name for the counter, e.g. `uploads`. */
  readonly name: string;
  /** Allowed events per window; 0 disables the rule. */
  readonly limit: number;
  readonly windowMs: number;
}

export interface RateLimitState {
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the window resets. */
  readonly resetMs: number;
  readonly exceeded: boolean;
}

/**
 * Fixed-window counters in Redis, so a limit holds across every gateway replica. When Redis
 * does not answer the limiter lets requests through: an outage must not turn into a refusal
 * of service for reads, and uploads fail on their own without the queue.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  private keyFor(rule: RateLimitRule, client: string, now: number): { key: string; resetMs: number } {
    const window = Math.floor(now / rule.windowMs);
    return { key: `${this.prefix}:ratelimit:${rule.name}:${client}:${window}`, resetMs: (window + 1) * rule.windowMs - now };
  }

  /** Counts one event for `client` and reports whether it went over the limit. */
  async hit(rule: RateLimitRule, client: string): Promise<RateLimitState | undefined> {
    if (rule.limit === 0) return undefined;
    const { key, resetMs } = this.keyFor(rule, client, Date.now());
    try {
      const results = await this.redis.multi().incr(key).pexpire(key, rule.windowMs).exec();
      const count = Number(results?.[0]?.[1] ?? 0);
      return { limit: rule.limit, remaining: Math.max(0, rule.limit - count), resetMs, exceeded: count > rule.limit };
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : String(error), rule: rule.name }, 'rate limiter unavailable; letting the request through');
      return undefined;
    }
  }

  /** The state without counting an event: has `client` already used up the limit? */
  async peek(rule: RateLimitRule, client: string): Promise<RateLimitState | undefined> {
    if (rule.limit === 0) return undefined;
    const { key, resetMs } = this.keyFor(rule, client, Date.now());
    try {
      const count = Number((await this.redis.get(key)) ?? 0);
      return { limit: rule.limit, remaining: Math.max(0, rule.limit - count), resetMs, exceeded: count >= rule.limit };
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : String(error), rule: rule.name }, 'rate limiter unavailable; letting the request through');
      return undefined;
    }
  }
}

/** The standard headers (IETF RateLimit fields, in their widely deployed form). */
export function setRateLimitHeaders(reply: FastifyReply, rule: RateLimitRule, state: RateLimitState | undefined): void {
  if (state === undefined) return;
  void reply.headers({
    'ratelimit-limit': String(state.limit),
    'ratelimit-remaining': String(state.remaining),
    'ratelimit-reset': String(Math.ceil(state.resetMs / 1000)),
    'ratelimit-policy': `${rule.limit};w=${Math.round(rule.windowMs / 1000)}`,
  });
}

export function rateLimited(state: RateLimitState, what: string): AppError {
  return new AppError('RATE_LIMITED', `too many ${what}; retry in ${Math.ceil(state.resetMs / 1000)} s`, {
    retryAfterSeconds: Math.max(1, Math.ceil(state.resetMs / 1000)),
  });
}
