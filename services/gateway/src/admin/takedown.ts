import type { BlocklistRepository, ImageRecord, ImageRepository, NewBlocklistEntry, Takedown, TakedownReason } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { imageObjectsPrefix, parseObjectKey, parseQuarantineKey, quarantineKeyFor, quarantinePrefix } from '@imagehost/keys';
import type { ObjectStore } from '@imagehost/storage';

/** What taking down and restoring use. */
export interface TakedownDeps {
  readonly images: Pick<ImageRepository, 'findAny' | 'takeDown' | 'liftTakedown'>;
  readonly objects: Pick<ObjectStore, 'listObjectKeys' | 'moveObject' | 'copyObject' | 'removeObject'>;
  readonly blocklist: Pick<BlocklistRepository, 'add' | 'removeForImage'>;
  /** TAKEDOWN_RETENTION_MS: how long quarantined bytes stay restorable. */
  readonly retentionMs: number;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Told of each image this process takes down (the takedowns counter), once per image. */
  readonly tookDown?: (reason: TakedownReason) => void;
}

export interface TakedownRequest {
  readonly reason: TakedownReason;
  readonly note: string;
  readonly requestId: string;
}

export interface TakedownOutcome {
  readonly record: ImageRecord;
  /** The image was taken down by an earlier call; this one only finished its work. */
  readonly already: boolean;
  /** Version objects moved out of the served location by this call. */
  readonly quarantined: number;
  /** Blocklist entries added by this call. */
  readonly blocked: number;
}

function notFound(): AppError {
  return new AppError('IMAGE_NOT_FOUND', 'no live image has this key');
}

/** The blocklist entries of a taken-down image: its bytes as stored and as uploaded, and its picture. */
export function blocklistEntriesOf(record: ImageRecord, reason: string, note: string, at: Date): NewBlocklistEntry[] {
  const source = { imageKey: record._id, reason, note, createdAt: at };
  const digests = new Set([record.sha256, ...(record.uploadedSha256 === undefined ? [] : [record.uploadedSha256])]);
  return [
    ...[...digests].map((hash) => ({ ...source, kind: 'sha256' as const, hash })),
    ...(record.perceptualHash === undefined
      ? []
      : [{ ...source, kind: 'perceptual' as const, hash: record.perceptualHash, ...(record.perceptualDctHash === undefined ? {} : { dctHash: record.perceptualDctHash }) }]),
  ];
}

/** Moves every version object of the image out of the served location. Idempotent. */
export async function quarantineImageObjects(objects: TakedownDeps['objects'], imageKey: string): Promise<number> {
  let moved = 0;
  for (const key of await objects.listObjectKeys(imageObjectsPrefix(imageKey))) {
    const parsed = parseObjectKey(key);
    if (parsed !== undefined && (await objects.moveObject(key, quarantineKeyFor(parsed.imageKey, parsed.versionId)))) moved += 1;
  }
  return moved;
}

/**
 * Takes an image down. First the compare-and-set on its record: from that write on every
 * gateway answers 451 (each reads the record fresh for every request, and its byte cache is
 * reached only past that check), and no PATCH or DELETE can change it any more. Then its
 * content joins the blocklist and its version objects move to quarantine. Calling it again
 * on an image already down finishes that work (after a failure halfway) and changes nothing
 * else.
 */
export async function takeDownImage(imageKey: string, request: TakedownRequest, deps: TakedownDeps): Promise<TakedownOutcome> {
  const at = new Date(deps.clock());
  const takedown: Takedown = { reason: request.reason, note: request.note, at, retainUntil: new Date(at.getTime() + deps.retentionMs), requestId: request.requestId };
  let record = await deps.images.takeDown(imageKey, takedown);
  const already = record === undefined;
  if (!already) deps.tookDown?.(request.reason);
  if (record === undefined) {
    record = await deps.images.findAny(imageKey);
    if (record === undefined || record.deletedAt !== null || record.takedown == null) throw notFound();
  }
  const down = record.takedown ?? takedown;
  const added = await deps.blocklist.add(blocklistEntriesOf(record, down.reason, down.note, down.at));
  const quarantined = await quarantineImageObjects(deps.objects, imageKey);
  return { record, already, quarantined, blocked: added.length };
}

export interface RestoreOutcome {
  readonly record: ImageRecord;
  /** Blocklist entries of the image that were removed. */
  readonly unblocked: number;
}

/**
 * Undoes a takedown within its retention: the current version's bytes go back where they
 * were, byte for byte (a server-side copy), the image's blocklist entries go, and then the
 * takedown is lifted, so the image is served again only once its bytes are in place. The
 * other quarantined objects (versions superseded or raced at takedown time) are removed.
 */
export async function restoreImage(imageKey: string, deps: TakedownDeps): Promise<RestoreOutcome> {
  const record = await deps.images.findAny(imageKey);
  if (record === undefined || record.deletedAt !== null) throw notFound();
  if (record.takedown == null) throw new AppError('CONFLICT', 'the image is not taken down');
  const now = new Date(deps.clock());
  if (record.takedown.retainUntil <= now) throw new AppError('CONFLICT', 'the retention of this takedown is over: its bytes are being purged');

  if (!(await deps.objects.copyObject(quarantineKeyFor(imageKey, record.versionId), record.objectKey))) {
    // Not in quarantine: an earlier restore put it back already, or the takedown never moved it.
    const served = await deps.objects.listObjectKeys(imageObjectsPrefix(imageKey));
    if (!served.includes(record.objectKey)) throw new AppError('CONFLICT', 'the quarantined bytes of this image are gone');
  }
  const unblocked = await deps.blocklist.removeForImage(imageKey);
  const lifted = await deps.images.liftTakedown(imageKey, now);
  if (lifted === undefined) throw new AppError('CONFLICT', 'the takedown changed meanwhile (restored, or purged at the end of its retention)');
  for (const key of await deps.objects.listObjectKeys(quarantinePrefix(imageKey))) {
    if (parseQuarantineKey(key) !== undefined) await deps.objects.removeObject(key);
  }
  return { record: { ...lifted, takedown: null }, unblocked };
}
