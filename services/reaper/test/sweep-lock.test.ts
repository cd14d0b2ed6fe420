import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { connectRedisFailFast, type RedisClient } from '@imagehost/jobs';
import { testBackendSettings, uniqueName, waitFor } from '@imagehost/testing';
import { SweepLockLostError, sweepLock } from '../src/sweep-lock.js';

// The sweep lock against a real Redis, each holder on its own connection as replicas are.

const settings = testBackendSettings();
const observer = new Redis(settings.redisUrl);
const connections: RedisClient[] = [observer];

/** A connection like the reaper's: commands fail at once while it is not connected. */
async function connection(): Promise<RedisClient> {
  const redis = connectRedisFailFast({ kind: 'server', url: settings.redisUrl }, 2000);
  connections.push(redis);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

afterAll(() => {
  for (const redis of connections) redis.disconnect();
});

const TTL_MS = 600;
const RENEW_EVERY_MS = 150;

/** Resolves with the signal's reason once it aborts, or with `undefined` after `ms`. */
async function abortedWithin(signal: AbortSignal, ms: number): Promise<unknown> {
  if (signal.aborted) return signal.reason;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(signal.reason);
    });
  });
}

describe('sweepLock', () => {
  it('keeps the lock through a task several TTLs long, refusing a second contender throughout, and releases it', async () => {
    const key = uniqueName('sweep-lock');
    const holder = sweepLock(await connection(), key, { ttlMs: TTL_MS, renewEveryMs: RENEW_EVERY_MS });
    const contender = sweepLock(await connection(), key, { ttlMs: TTL_MS, renewEveryMs: RENEW_EVERY_MS });
    let contenderRan = 0;
    let attempts = 0;
    let holderSignal: AbortSignal | undefined;

    const ran = await holder(async (lockLost) => {
      holderSignal = lockLost;
      const until = Date.now() + 4 * TTL_MS;
      while (Date.now() < until) {
        attempts += 1;
        expect(
          await contender(async () => {
            contenderRan += 1;
          }),
        ).toBe(false);
        expect(await observer.pttl(key)).toBeGreaterThan(0);
        // Contends every 50 ms for 4 TTLs: the holding time is the behaviour under test.
        await sleep(50);
      }
    });

    expect(ran).toBe(true);
    expect(attempts).toBeGreaterThan(10);
    expect(contenderRan).toBe(0);
    expect(holderSignal?.aborted).toBe(false);
    expect(await observer.exists(key)).toBe(0);
    expect(await contender(async () => undefined)).toBe(true);
  });

  it.each([
    ['taken by another holder', (key: string) => observer.set(key, 'someone-else', 'PX', 60_000)],
    ['expired', (key: string) => observer.del(key)],
  ])('tells the task when the lock was %s, and does not release what is not its own', async (how, takeAway) => {
    const key = uniqueName('sweep-lock');
    const holder = sweepLock(await connection(), key, { ttlMs: TTL_MS, renewEveryMs: RENEW_EVERY_MS });
    let reason: unknown;
    let abortedBeforeTakenAway = true;

    expect(
      await holder(async (lockLost) => {
        abortedBeforeTakenAway = (await abortedWithin(lockLost, 2 * TTL_MS)) !== undefined;
        await takeAway(key);
        reason = await abortedWithin(lockLost, 2 * RENEW_EVERY_MS + 500);
      }),
    ).toBe(true);

    expect(abortedBeforeTakenAway).toBe(false);
    expect(reason).toBeInstanceOf(SweepLockLostError);
    expect(await observer.get(key)).toBe(how === 'expired' ? null : 'someone-else');
    await observer.del(key);
  });

  it('stops the task before the lock could lapse when Redis no longer answers its holder', async () => {
    const key = uniqueName('sweep-lock');
    const redis = await connection();
    const holder = sweepLock(redis, key, { ttlMs: 2000, renewEveryMs: 800 });
    let stillHeldWhenStopped: number | undefined;
    let reason: unknown;

    await holder(async (lockLost) => {
      // After one confirmed extension, so the lock outlives the first deadline.
      // Between extensions the lock's time to live only falls: a rise is an extension.
      let lastTtl = await observer.pttl(key);
      await waitFor('the holder to extend the lock', async () => {
        const ttl = await observer.pttl(key);
        const extended = ttl > lastTtl;
        lastTtl = ttl;
        return extended ? true : undefined;
      }, 5_000, 20);
      redis.disconnect();
      reason = await abortedWithin(lockLost, 3000);
      stillHeldWhenStopped = await observer.exists(key);
    });

    expect(reason).toBeInstanceOf(SweepLockLostError);
    expect(stillHeldWhenStopped).toBe(1);
    await observer.del(key);
  });
});
