import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// Deletes the lock only if it still holds our token (it may have expired and been taken).
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * A Redis lock so one sweep runs at a time across every reaper replica, even when a sweep
 * outlasts its interval and the scheduler hands the next one to another replica. It expires
 * on its own if its holder dies.
 */
export function sweepLock(redis: Redis, key: string, ttlMs: number) {
  return async (task: () => Promise<void>): Promise<boolean> => {
    const token = randomUUID();
    if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return false;
    try {
      await task();
      return true;
    } finally {
      await redis.eval(RELEASE, 1, key, token);
    }
  };
}
