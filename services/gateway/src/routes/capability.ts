import { AppError } from '@imagehost/errors';
import type { ImageRecord, ImageRepository } from '@imagehost/db';
import { hashCapabilityKey, isCapabilityKey, isImageKey } from '@imagehost/keys';

export function imageNotFound(): AppError {
  return new AppError('IMAGE_NOT_FOUND', 'no image has this key');
}

export function imageTakenDown(): AppError {
  return new AppError('IMAGE_TAKEN_DOWN', 'this image was taken down by the operator');
}

/**
 * The image as readers see it: 404 when unknown or deleted, 451 when taken down (for every
 * method, keys or not: the uploader cannot put it back). Malformed and absurdly long keys are
 * simply unknown: no database round trip.
 */
export async function findLiveImage(images: Pick<ImageRepository, 'findLive'>, imageKey: string): Promise<ImageRecord> {
  if (!isImageKey(imageKey)) throw imageNotFound();
  const record = await images.findLive(imageKey);
  if (record === undefined) throw imageNotFound();
  if (record.takedown != null) throw imageTakenDown();
  return record;
}

/**
 * A capability key as the client sent it, from a header or a body field. Absent: 401.
 * Present but not a string (an operator object, a number, a list): 400.
 */
export function presentedKey(header: string | string[] | undefined, field: unknown, name: string): string {
  if (Array.isArray(header)) throw new AppError('MALFORMED_BODY', `send ${name} once`);
  const key = header ?? field;
  if (key === undefined || key === '') throw new AppError('KEY_MISSING', `the ${name} is required`);
  if (typeof key !== 'string') throw new AppError('MALFORMED_BODY', `${name} must be a string`);
  return key;
}

/**
 * The live image whose key hash matches `hashOf(record)`: 404 when the image is unknown or
 * deleted, 451 when taken down, 403 when the key is wrong. A check before work, not the decision: the decision is
 * the compare-and-set that later writes.
 */
export async function imageUnlockedBy(
  images: Pick<ImageRepository, 'findLive'>,
  imageKey: string,
  key: string,
  hashOf: (record: ImageRecord) => string,
): Promise<{ record: ImageRecord; keyHash: string }> {
  const record = await findLiveImage(images, imageKey);
  const keyHash = isCapabilityKey(key) ? hashCapabilityKey(key) : '';
  if (keyHash === '' || keyHash !== hashOf(record)) throw new AppError('KEY_INVALID', 'the key does not match this image');
  return { record, keyHash };
}
