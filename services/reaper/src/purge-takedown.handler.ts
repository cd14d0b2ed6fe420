import type { ImageRepository } from '@imagehost/db';
import type { ReapJobResult } from '@imagehost/jobs';
import { imageObjectsPrefix, quarantinePrefix } from '@imagehost/keys';
import type { ObjectStore } from '@imagehost/storage';

export interface PurgeTakedownDeps {
  readonly images: Pick<ImageRepository, 'purgeTakenDown'>;
  readonly objects: Pick<ObjectStore, 'listObjectKeys' | 'removeObject'>;
}

/**
 * Purges a taken-down image whose retention ended before `now`: its quarantined objects (and
 * any version left in the served location), then its record, after which its key is unknown
 * (404). Objects first, so a purge killed halfway is found again by the next sweep. The
 * content stays on the blocklist.
 */
export async function purgeTakedown(imageKey: string, now: Date, deps: PurgeTakedownDeps): Promise<ReapJobResult> {
  const keys = [...(await deps.objects.listObjectKeys(quarantinePrefix(imageKey))), ...(await deps.objects.listObjectKeys(imageObjectsPrefix(imageKey)))];
  for (const key of keys) await deps.objects.removeObject(key);
  const removedRecord = await deps.images.purgeTakenDown(imageKey, now);
  return { removedObjects: keys.length, removedRecords: removedRecord ? 1 : 0 };
}
