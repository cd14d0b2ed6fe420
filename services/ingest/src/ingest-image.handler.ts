import { createHash } from 'node:crypto';
import { AppError } from '@imagehost/errors';
import { isExpired, isHidden, type ImageRecord, type ImageRepository } from '@imagehost/db';
import { enqueueReap, type IngestJobData, type IngestedImage, type ReapQueue } from '@imagehost/jobs';
import { inSpan } from '@imagehost/ops';
import type { ObjectStore } from '@imagehost/storage';
import { validateImage, type ImageLimits, type ValidatedImage } from '@imagehost/image-format/validate';

export interface IngestDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly reapQueue: ReapQueue;
  readonly limits: { readonly maxUploadBytes: number } & ImageLimits;
  /** Delay before a replaced version's object is removed (GETs in flight may still read it). */
  readonly supersededReapDelayMs: number;
  /** Milliseconds since the epoch (`Date.now` unless a test sets it): whether an image has expired. */
  readonly now?: () => number;
}

function resultOf(record: Pick<ImageRecord, '_id' | 'versionId' | 'contentType' | 'bytes' | 'width' | 'height' | 'sha256'>): IngestedImage {
  const { _id: imageKey, versionId, contentType, bytes, width, height, sha256 } = record;
  return { imageKey, versionId, contentType, bytes, width, height, sha256 };
}

/** Hands this job's own object to the reaper: it will never be the image's current version. */
async function discardUpload(data: IngestJobData, deps: IngestDeps, reason: 'refused' | 'raced'): Promise<void> {
  await enqueueReap(deps.reapQueue, { target: 'object', objectKey: data.objectKey, reason });
}

/** Reads and validates the uploaded bytes; a refusal discards the upload before it is reported. */
async function validatedUpload(data: IngestJobData, deps: IngestDeps): Promise<{ bytes: Buffer; image: ValidatedImage }> {
  try {
    const bytes = await deps.objects.readObject(data.objectKey, deps.limits.maxUploadBytes);
    if (bytes === undefined) throw new AppError('CONFLICT', `the uploaded object ${data.objectKey} is gone`);
    return { bytes, image: await inSpan('decode', () => validateImage(bytes, deps.limits)) };
  } catch (error) {
    if (error instanceof AppError && !error.retryable) await discardUpload(data, deps, 'refused');
    throw error;
  }
}

function versionFields(data: IngestJobData, bytes: Buffer, image: ValidatedImage) {
  return {
    versionId: data.versionId,
    objectKey: data.objectKey,
    contentType: image.contentType,
    bytes: bytes.length,
    width: image.width,
    height: image.height,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    deleteKeyHash: data.deleteKeyHash,
    updateKeyHash: data.updateKeyHash,
    updatedAt: new Date(data.acceptedAt),
    // Absent from a replacement's job (an older producer): the image keeps its expiry.
    ...(data.expiresAt === undefined ? {} : { expiresAt: data.expiresAt === null ? null : new Date(data.expiresAt) }),
  };
}

async function createImage(data: Extract<IngestJobData, { kind: 'create' }>, deps: IngestDeps): Promise<IngestedImage> {
  // No lookup first: the insert itself finds a record already there, and a redelivered job
  // (rare) validating its bytes again is cheaper than a round trip on every upload.
  const { bytes, image } = await validatedUpload(data, deps);
  const record: ImageRecord = {
    _id: data.imageKey,
    expiresAt: null,
    ...versionFields(data, bytes, image),
    createdAt: new Date(data.acceptedAt),
    deletedAt: null,
  };
  const outcome = await deps.images.insertIfAbsent(record);
  if (outcome.inserted) return resultOf(record);
  // An earlier delivery of this job inserted it: the same outcome.
  if (outcome.existing.versionId === data.versionId) return resultOf(outcome.existing);
  throw new AppError('CONFLICT', `image key ${data.imageKey} already belongs to another image`);
}

/**
 * Why a replacement's compare-and-set did not apply, read from the record as it is now:
 * already applied by an earlier delivery of this job (success), image gone (404), or the
 * update key raced away by a concurrent PATCH (409).
 */
async function explainMissedReplace(data: Extract<IngestJobData, { kind: 'replace' }>, deps: IngestDeps): Promise<IngestedImage> {
  const current = await deps.images.findAny(data.imageKey);
  if (current !== undefined && current.versionId === data.versionId) return resultOf(current);
  await discardUpload(data, deps, 'raced');
  if (current === undefined || current.deletedAt !== null) throw new AppError('IMAGE_NOT_FOUND', 'the image was deleted');
  if (isExpired(current, (deps.now ?? Date.now)()) || isHidden(current)) throw new AppError('IMAGE_NOT_FOUND', 'the image expired or is hidden');
  throw new AppError('CONFLICT', 'the update key was used by a concurrent replacement');
}

async function replaceImage(data: Extract<IngestJobData, { kind: 'replace' }>, deps: IngestDeps): Promise<IngestedImage> {
  const before = await deps.images.findAny(data.imageKey);
  if (before === undefined || before.versionId === data.versionId || before.updateKeyHash !== data.expectedUpdateKeyHash || before.deletedAt !== null) {
    return explainMissedReplace(data, deps);
  }
  const { bytes, image } = await validatedUpload(data, deps);
  const next = versionFields(data, bytes, image);
  const previous = await deps.images.replaceVersion(data.imageKey, data.expectedUpdateKeyHash, next, new Date((deps.now ?? Date.now)()));
  if (previous === undefined) return explainMissedReplace(data, deps);
  if (previous.objectKey !== data.objectKey) {
    await enqueueReap(deps.reapQueue, { target: 'object', objectKey: previous.objectKey, reason: 'superseded' }, deps.supersededReapDelayMs);
  }
  return resultOf({ _id: data.imageKey, ...next });
}

/**
 * Validates an uploaded version and records it: a new image, or the image's next version in
 * one compare-and-set. Idempotent: a redelivered job finds its own earlier write and reports
 * it again. Refused or raced uploads hand their object to the reaper before the failure is
 * reported, so nothing of them stays behind.
 */
export async function ingestImage(data: IngestJobData, deps: IngestDeps): Promise<IngestedImage> {
  switch (data.kind) {
    case 'create':
      return createImage(data, deps);
    case 'replace':
      return replaceImage(data, deps);
  }
}
