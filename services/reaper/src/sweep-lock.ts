import { randomUUID } from 'node:crypto';
import type { RedisClient } from '@imagehost/jobs';

// Both act only while the lock still holds our token: it may have lapsed and been taken.
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Runs `task` unless another holder has the lock; false when it was skipped. */
export type Exclusively = (task: (lockLost: AbortSignal) => Promise<void>) => Promise<boolean>;

export interface SweepLockOptions {
  /** How long the lock outlives a holder that died with it. */
  readonly ttlMs: number;
  /** How often a live holder extends it back to `ttlMs` (default: a third of it). */
  readonly renewEveryMs?: number;
}

/** The reason a task's signal aborts with when its lock was lost. */
export class SweepLockLostError extends Error {
  override readonly name = 'SweepLockLostError';
}

/**
 * A Redis lock so one sweep runs at a time across every reaper replica, even when a sweep
 * outlasts its interval and the scheduler hands the next one to another replica. Its holder
 * extends it while the task runs, so it expires only when the holder dies; the task's signal
 * aborts when the lock was taken away or may have lapsed (Redis unanswered), and the task
 * stops at its next check.
 */
export function sweepLock(redis: RedisClient, key: string, options: SweepLockOptions): Exclusively {
  const { ttlMs } = options;
  const renewEveryMs = options.renewEveryMs ?? Math.floor(ttlMs / 3);
  if (!(renewEveryMs > 0 && renewEveryMs < ttlMs)) throw new RangeError(`renewEveryMs must lie between 0 and ttlMs (${ttlMs}), not ${renewEveryMs}`);
  // Gives up a little before the lock could lapse, so a task never runs on past it.
  const marginMs = Math.floor(renewEveryMs / 2);

  return async (task) => {
    const token = randomUUID();
    const lost = new AbortController();
    const lose = (why: string) => {
      if (!lost.signal.aborted) lost.abort(new SweepLockLostError(`the sweep lock was lost: ${why}`));
    };
    // Armed as each command is sent, so it runs out no later than the lock it may confirm.
    const deadlineFrom = () => setTimeout(() => lose(`no extension confirmed within ${ttlMs - marginMs} ms`), ttlMs - marginMs);

    let deadline = deadlineFrom();
    let taken = false;
    try {
      taken = (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
    } finally {
      if (!taken) clearTimeout(deadline);
    }
    if (!taken) return false;

    let finished = false;
    let renewal: NodeJS.Timeout | undefined;
    const renew = async () => {
      const candidate = deadlineFrom();
      try {
        const extended = (await redis.eval(EXTEND, 1, key, token, String(ttlMs))) === 1;
        if (extended && !finished) {
          clearTimeout(deadline);
          deadline = candidate;
          return;
        }
        clearTimeout(candidate);
        if (!extended && !finished) lose('another holder has it, or it expired');
      } catch {
        // Redis did not answer: the lock is ours until the last confirmed deadline.
        clearTimeout(candidate);
      }
    };
    const scheduleRenewal = () => {
      renewal = setTimeout(() => {
        void renew().then(() => {
          if (!finished && !lost.signal.aborted) scheduleRenewal();
        });
      }, renewEveryMs);
    };
    scheduleRenewal();

    try {
      await task(lost.signal);
      return true;
    } finally {
      finished = true;
      clearTimeout(renewal);
      clearTimeout(deadline);
      // Should Redis not answer, the lock lapses on its own after ttlMs.
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  };
}
