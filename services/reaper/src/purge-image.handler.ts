import type { ImageRepository } from '@imagehost/db';
import type { ObjectStore } from '@imagehost/storage';
import type { ReapJobResult } from '@imagehost/jobs';
import { imageObjectsPrefix } from '@imagehost/keys';

export interface PurgeDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
}

/**
 * Purges a deleted image for good: every object under its prefix, then its record. Objects
 * go first, so a purge killed halfway leaves the tombstone that makes it run again (by
 * retry or by the sweep). A live image is never touched.
 */
export async function purgeImage(imageKey: string, deps: PurgeDeps): Promise<ReapJobResult> {
  const record = await deps.images.findAny(imageKey);
  if (record !== undefined && record.deletedAt === null) return { removedObjects: 0, removedRecords: 0 };
  const objects = await deps.objects.listObjectKeys(imageObjectsPrefix(imageKey));
  for (const key of objects) await deps.objects.removeObject(key);
  const removedRecord = await deps.images.purgeDeleted(imageKey);
  return { removedObjects: objects.length, removedRecords: removedRecord ? 1 : 0 };
}
