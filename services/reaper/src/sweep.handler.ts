import type { ImageRecord, ImageRepository } from '@imagehost/db';
import {
  decodeJobFailure,
  enqueueIngest,
  failedByStalling,
  ingestJobFromMetadata,
  ingestJobId,
  type IngestJobData,
  type IngestQueue,
  type ReapJobResult,
} from '@imagehost/jobs';
import { IMAGE_OBJECTS_PREFIX, QUARANTINE_OBJECTS_PREFIX, parseObjectKey, parseQuarantineKey, quarantineKeyFor } from '@imagehost/keys';
import type { Logger } from '@imagehost/logging';
import type { ObjectStore } from '@imagehost/storage';
import { purgeImage } from './purge-image.handler.js';
import { purgeTakedown } from './purge-takedown.handler.js';

export interface SweepDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly ingestQueue: IngestQueue;
  /** Nothing younger than this is touched: it may belong to an upload still in flight. */
  readonly graceMs: number;
  readonly log: Logger;
  readonly now?: () => number;
  /** Objects, records and jobs handled at a time: the sweep's memory is one batch (default 500). */
  readonly batchSize?: number;
}

const DEFAULT_BATCH = 500;
const PENDING_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** What became of an upload's ingest job: absent (never run, or lost with Redis's data), or its state. */
type EarlierRun = { readonly state: 'absent' } | { readonly state: string; readonly failedReason: string };

async function earlierRun(deps: SweepDeps, imageKey: string, versionId: string): Promise<EarlierRun> {
  const job = await deps.ingestQueue.getJob(ingestJobId({ imageKey, versionId }));
  if (job === undefined) return { state: 'absent' };
  return { state: await job.getState(), failedReason: job.failedReason ?? '' };
}

/**
 * Whether a failed run settled the upload's fate: a refusal, or a worker that died with the
 * job until BullMQ gave up on it (a poison image). Retries that ran out in an outage did not.
 */
function failedForGood(reason: string): boolean {
  const decoded = decodeJobFailure(reason);
  if (decoded !== undefined) return !decoded.retryable;
  return failedByStalling(reason);
}

/**
 * What to do with a version object that has no pending ingest job, given the image's record
 * as read after that check, the ingest job the object was uploaded with and what became of
 * its earlier run:
 * - `keep`: it is the image's current version, or a deleted image's (its purge's business);
 * - `reingest`: its job was lost (Redis lost its data) or gave up in a backend outage, and it
 *   may still become the image — a new image with no record yet, or a
 *   replacement newer than the current version. Running the job again is safe: ingest is
 *   idempotent, and a job that has nothing left to win refuses and discards its object;
 * - `remove`: a refused, raced, superseded or poison version, one whose job already ran to
 *   completion, or an object with no job to run.
 */
export function orphanAction(
  versionId: string,
  record: Pick<ImageRecord, 'versionId' | 'deletedAt' | 'updatedAt'> | undefined,
  job: IngestJobData | undefined,
  earlier: EarlierRun,
): 'keep' | 'reingest' | 'remove' {
  if (record !== undefined && (record.deletedAt !== null || record.versionId === versionId)) return 'keep';
  const lost = earlier.state === 'absent' || (earlier.state === 'failed' && 'failedReason' in earlier && !failedForGood(earlier.failedReason));
  if (job === undefined || !lost) return 'remove';
  if (record === undefined) return job.kind === 'create' ? 'reingest' : 'remove';
  return job.kind === 'replace' && job.acceptedAt > record.updatedAt.getTime() ? 'reingest' : 'remove';
}

/** Enqueues a lost job again under its own id, replacing a failed earlier run. */
async function reingest(deps: SweepDeps, job: IngestJobData): Promise<void> {
  const earlier = await deps.ingestQueue.getJob(ingestJobId(job));
  if (earlier !== undefined) await earlier.remove();
  await enqueueIngest(deps.ingestQueue, job);
  deps.log.warn({ imageKey: job.imageKey, jobId: ingestJobId(job), kind: job.kind }, 'sweep: enqueued a lost ingest job again');
}

/**
 * Removes quarantined objects older than the grace period whose image is no longer taken down
 * (restored, or purged by a sweep killed halfway): quarantine holds nothing unaccounted for.
 */
async function sweepQuarantine(deps: SweepDeps, cutoff: Date, batch: number, stop?: AbortSignal): Promise<number> {
  let removed = 0;
  for await (const page of deps.objects.listObjectPages(QUARANTINE_OBJECTS_PREFIX, batch)) {
    stop?.throwIfAborted();
    const old = page.flatMap((object) => {
      const parsed = object.lastModified < cutoff ? parseQuarantineKey(object.key) : undefined;
      return parsed === undefined ? [] : [{ key: object.key, imageKey: parsed.imageKey }];
    });
    if (old.length === 0) continue;
    const records = await deps.images.findMany([...new Set(old.map((object) => object.imageKey))]);
    for (const object of old) {
      if (records.get(object.imageKey)?.takedown != null) continue;
      await deps.objects.removeObject(object.key);
      removed += 1;
    }
  }
  return removed;
}

/**
 * Finds what lost jobs left behind, older than the grace period: tombstones not
 * yet purged, version objects no record points to (refused, abandoned or superseded uploads)
 * and unfinished multipart uploads. Also purges takedowns whose retention is over, moves to
 * quarantine any version of a taken-down image still in the served location (a takedown that
 * failed halfway), and removes quarantined objects no takedown accounts for. Works a batch
 * at a time, and stops between batches once `stop` aborts (its reason is thrown).
 */
export async function sweep(deps: SweepDeps, stop?: AbortSignal): Promise<ReapJobResult> {
  const now = new Date((deps.now ?? Date.now)());
  const cutoff = new Date(now.getTime() - deps.graceMs);
  let removedObjects = 0;
  let removedRecords = 0;
  let reingested = 0;
  let quarantined = 0;
  const batch = deps.batchSize ?? DEFAULT_BATCH;

  for (;;) {
    stop?.throwIfAborted();
    const expired = await deps.images.findExpiredTakedowns(now, batch);
    for (const imageKey of expired) {
      const purged = await purgeTakedown(imageKey, now, deps);
      removedObjects += purged.removedObjects;
      removedRecords += purged.removedRecords;
    }
    if (expired.length < batch) break;
  }

  for (;;) {
    stop?.throwIfAborted();
    const tombstones = await deps.images.findTombstones(cutoff, batch);
    for (const imageKey of tombstones) {
      const purged = await purgeImage(imageKey, deps);
      removedObjects += purged.removedObjects;
      removedRecords += purged.removedRecords;
    }
    if (tombstones.length < batch) break;
  }

  for await (const page of deps.objects.listObjectPages(IMAGE_OBJECTS_PREFIX, batch)) {
    stop?.throwIfAborted();
    // Pending ingest jobs first, records second: a job finishes only after its record is
    // written, so a version with no pending job that a fresh read does not find is orphaned.
    const candidates: { key: string; imageKey: string; versionId: string; earlier: EarlierRun }[] = [];
    for (const object of page) {
      if (object.lastModified >= cutoff) continue;
      const parsed = parseObjectKey(object.key);
      if (parsed === undefined) {
        deps.log.warn({ objectKey: object.key }, 'sweep: leaving an object that is not an image version alone');
        continue;
      }
      const { imageKey, versionId } = parsed;
      const earlier = await earlierRun(deps, imageKey, versionId);
      if (!PENDING_STATES.has(earlier.state)) candidates.push({ key: object.key, imageKey, versionId, earlier });
    }
    if (candidates.length === 0) continue;
    const records = await deps.images.findMany([...new Set(candidates.map((c) => c.imageKey))]);
    for (const candidate of candidates) {
      const record = records.get(candidate.imageKey);
      if (record?.takedown != null) {
        // Evidence, whichever version it is: kept with the takedown, never served.
        if (await deps.objects.moveObject(candidate.key, quarantineKeyFor(candidate.imageKey, candidate.versionId))) quarantined += 1;
        continue;
      }
      if (orphanAction(candidate.versionId, record, undefined, candidate.earlier) === 'keep') continue;
      const metadata = await deps.objects.objectMetadata(candidate.key);
      if (metadata === undefined) continue;
      const job = ingestJobFromMetadata(metadata);
      if (job !== undefined && orphanAction(candidate.versionId, record, job, candidate.earlier) === 'reingest') {
        await reingest(deps, job);
        reingested += 1;
        continue;
      }
      await deps.objects.removeObject(candidate.key);
      removedObjects += 1;
    }
  }

  removedObjects += await sweepQuarantine(deps, cutoff, batch, stop);
  stop?.throwIfAborted();
  removedObjects += await deps.objects.abortIncompleteUploads(IMAGE_OBJECTS_PREFIX);
  return { removedObjects, removedRecords, reingested, quarantined };
}
