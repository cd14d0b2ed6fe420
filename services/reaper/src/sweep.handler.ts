import type { ImageRepository } from '@imagehost/db';
import { ingestJobId, type IngestQueue, type ReapJobResult } from '@imagehost/jobs';
import type { Logger } from '@imagehost/logging';
import type { ObjectStore } from '@imagehost/storage';
import { purgeImage } from './purge-image.handler.js';

export interface SweepDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly ingestQueue: IngestQueue;
  /** Nothing younger than this is touched: it may belong to an upload still in flight. */
  readonly graceMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

const OBJECT_KEY = /^images\/([A-Za-z0-9_-]{16})\/([A-Za-z0-9_-]{16})$/;
const BATCH = 500;
const PENDING_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

async function hasPendingIngest(deps: SweepDeps, imageKey: string, versionId: string): Promise<boolean> {
  const job = await deps.ingestQueue.getJob(ingestJobId({ imageKey, versionId }));
  if (job === undefined) return false;
  return PENDING_STATES.has(await job.getState());
}

/**
 * Finds and removes what lost jobs left behind, older than the grace period: tombstones not
 * yet purged, version objects no record points to (refused, abandoned or superseded uploads)
 * and unfinished multipart uploads.
 */
export async function sweep(deps: SweepDeps): Promise<ReapJobResult> {
  const cutoff = new Date((deps.now ?? Date.now)() - deps.graceMs);
  let removedObjects = 0;
  let removedRecords = 0;

  for (;;) {
    const tombstones = await deps.images.findTombstones(cutoff, BATCH);
    for (const imageKey of tombstones) {
      const purged = await purgeImage(imageKey, deps);
      removedObjects += purged.removedObjects;
      removedRecords += purged.removedRecords;
    }
    if (tombstones.length < BATCH) break;
  }

  const old = (await deps.objects.listObjects('images/')).filter((object) => object.lastModified < cutoff);
  for (let at = 0; at < old.length; at += BATCH) {
    // Pending ingest jobs first, records second: a job finishes only after its record is
    // written, so a version with no pending job that a fresh read does not find is orphaned.
    const candidates: { key: string; imageKey: string; versionId: string }[] = [];
    for (const object of old.slice(at, at + BATCH)) {
      const match = OBJECT_KEY.exec(object.key);
      if (match === null) {
        deps.log.warn({ objectKey: object.key }, 'sweep: leaving an object that is not an image version alone');
        continue;
      }
      const [, imageKey = '', versionId = ''] = match;
      if (!(await hasPendingIngest(deps, imageKey, versionId))) candidates.push({ key: object.key, imageKey, versionId });
    }
    const records = await deps.images.findMany([...new Set(candidates.map((c) => c.imageKey))]);
    for (const candidate of candidates) {
      const record = records.get(candidate.imageKey);
      // A deleted image's objects are its purge's business (above, or its own reap job).
      if (record !== undefined && (record.deletedAt !== null || record.versionId === candidate.versionId)) continue;
      await deps.objects.removeObject(candidate.key);
      removedObjects += 1;
    }
  }

  removedObjects += await deps.objects.abortIncompleteUploads('images/');
  return { removedObjects, removedRecords };
}
