import { isExpired, isHidden, type ImageRecord, type ImageRepository } from '@imagehost/db';

/**
 * The record as the public sees it at `nowMs`: an expired image, or one hidden for review,
 * is gone (404 on every method) from that moment on every replica, whatever the reaper has
 * purged yet. Every request reads its record fresh, so nothing cached outlives the expiry. A
 * taken-down image stays, for the routes to answer 451: the operator's decision says more.
 */
export function publicRecord(record: ImageRecord | undefined, nowMs: number): ImageRecord | undefined {
  if (record === undefined || record.takedown != null) return record;
  return isExpired(record, nowMs) || isHidden(record) ? undefined : record;
}

/** `findLive` that leaves out what the public may no longer see, judged by `clock` when the record arrives. */
export function publicImages(images: Pick<ImageRepository, 'findLive'>, clock: () => number): Pick<ImageRepository, 'findLive'> {
  return { findLive: async (imageKey) => publicRecord(await images.findLive(imageKey), clock()) };
}
