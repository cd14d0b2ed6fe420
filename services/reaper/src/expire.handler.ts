import type { ReapJobResult } from '@imagehost/jobs';
import { purgeImage, type PurgeDeps } from './purge-image.handler.js';

export interface ExpireDeps extends PurgeDeps {
  /** Milliseconds since the epoch (`Date.now` unless a test sets it). */
  readonly now?: () => number;
  /** Images handled at a time: the purge's memory is one batch (default 500). */
  readonly batchSize?: number;
}

const DEFAULT_BATCH = 500;

/**
 * Purges every image whose expiry has passed, a batch at a time, soonest expired first (the
 * expiry index). Each batch first becomes tombstones in one write, so from then on its purge
 * is a deleted image's: no replacement can apply to it, and a purge cut short is finished by
 * the next run or by the sweep. Stops between batches once `stop` aborts.
 */
export async function purgeExpired(deps: ExpireDeps, stop?: AbortSignal): Promise<ReapJobResult> {
  const at = new Date((deps.now ?? Date.now)());
  const batch = deps.batchSize ?? DEFAULT_BATCH;
  let removedObjects = 0;
  let removedRecords = 0;
  let expired = 0;
  for (;;) {
    stop?.throwIfAborted();
    const keys = await deps.images.findExpired(at, batch);
    const marked = await deps.images.markExpired(keys, at);
    expired += marked;
    for (const imageKey of keys) {
      const purged = await purgeImage(imageKey, deps);
      removedObjects += purged.removedObjects;
      removedRecords += purged.removedRecords;
    }
    // Fewer than a batch: nothing more has expired. None marked: a batch someone else took.
    if (keys.length < batch || marked === 0) break;
  }
  return { removedObjects, removedRecords, expired };
}
