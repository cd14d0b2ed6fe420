import type { ReapJobData, ReapJobResult } from '@imagehost/jobs';
import { purgeExpired } from './expire.handler.js';
import { purgeImage } from './purge-image.handler.js';
import type { Exclusively } from './sweep-lock.js';
import { sweep, type SweepDeps } from './sweep.handler.js';

export type ReapDeps = SweepDeps & {
  /** Runs the sweep unless another reaper is sweeping, and tells it when its lock is lost. */
  readonly exclusively: Exclusively;
  /**
   * Runs the expiry purge unless another reaper is running it. A lock of its own: a sweep of a
   * large bucket takes minutes, and expired images must go within a minute whatever it does.
   */
  readonly expiryExclusively: Exclusively;
  /** Told the duration of each sweep this reaper ran to its end (skipped or stopped ones are not). */
  readonly sweepCompleted?: (seconds: number) => void;
};

/** Removes what a reap job names. Every branch is idempotent: run twice, same end state. */
export async function reap(data: ReapJobData, deps: ReapDeps): Promise<ReapJobResult> {
  switch (data.target) {
    case 'object':
      await deps.objects.removeObject(data.objectKey);
      return { removedObjects: 1, removedRecords: 0 };
    case 'image':
      return purgeImage(data.imageKey, deps);
    case 'sweep': {
      let result: ReapJobResult = { removedObjects: 0, removedRecords: 0 };
      await deps.exclusively(async (lockLost) => {
        const started = performance.now();
        result = await sweep(deps, lockLost);
        deps.sweepCompleted?.((performance.now() - started) / 1000);
      });
      return result;
    }
    case 'expire': {
      let result: ReapJobResult = { removedObjects: 0, removedRecords: 0, expired: 0 };
      await deps.expiryExclusively(async (lockLost) => {
        result = await purgeExpired(deps, lockLost);
      });
      return result;
    }
  }
}
