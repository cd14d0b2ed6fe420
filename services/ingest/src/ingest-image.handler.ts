import { createHash } from 'node:crypto';
import { AppError } from '@imagehost/errors';
import { isExpired, isHidden, type BlocklistRepository, type ImageRecord, type ImageRepository } from '@imagehost/db';
import { pictureHashes, type PictureHashes } from '@imagehost/image-format/perceptual';
import { enqueueReap, type IngestJobData, type IngestedImage, type ReapQueue } from '@imagehost/jobs';
import { inSpan } from '@imagehost/ops';
import type { ObjectStore } from '@imagehost/storage';
import { validateImage, type ImageLimits, type ValidatedImage } from '@imagehost/image-format/validate';
import { findBlocklistMatch } from './blocklist-match.js';

export interface IngestDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly reapQueue: ReapQueue;
  readonly limits: { readonly maxUploadBytes: number } & ImageLimits;
  /** Delay before a replaced version's object is removed (GETs in flight may still read it). */
  readonly supersededReapDelayMs: number;
  /** Content taken down before: an upload matching it is refused (451) and discarded. */
  readonly blocklist: Pick<BlocklistRepository, 'findCandidates'>;
  /** Bits by which a picture's dHash and pHash may each differ from a blocked entry's and still match. */
  readonly perceptualMatchDistance: number;
  /** Milliseconds since the epoch (`Date.now` unless a test sets it): whether an image has expired. */
  readonly now?: () => number;
  /** Told of each upload refused for matching the blocklist (the blocklist refusals counter). */
  readonly refusedAsBlocked?: (match: 'exact' | 'perceptual') => void;
}

function resultOf(record: Pick<ImageRecord, '_id' | 'versionId' | 'contentType' | 'bytes' | 'width' | 'height' | 'sha256'>): IngestedImage {
  const { _id: imageKey, versionId, contentType, bytes, width, height, sha256 } = record;
  return { imageKey, versionId, contentType, bytes, width, height, sha256 };
}

/** Hands this job's own object to the reaper: it will never be the image's current version. */
async function discardUpload(data: IngestJobData, deps: IngestDeps, reason: 'refused' | 'raced'): Promise<void> {
  await enqueueReap(deps.reapQueue, { target: 'object', objectKey: data.objectKey, reason });
}

/** An uploaded version's bytes, what they decode to, and the hashes it is recorded and matched by. */
interface CheckedUpload {
  readonly bytes: Buffer;
  readonly image: ValidatedImage;
  readonly sha256: string;
  readonly hashes: PictureHashes;
}

async function pictureHashesOf(bytes: Buffer): Promise<PictureHashes> {
  try {
    return await pictureHashes(bytes);
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', 'the image does not decode to a thumbnail', { cause: error });
  }
}

/**
 * Refuses an upload whose bytes (as stored or as uploaded) or picture match the blocklist.
 * The gateway refused exact matches before storing; this catches re-encoded and resized
 * copies, and anything blocked while the upload was in flight.
 */
async function refuseBlocked(data: IngestJobData, upload: CheckedUpload, deps: IngestDeps): Promise<void> {
  const sha256s = data.uploadedSha256 === undefined ? [upload.sha256] : [upload.sha256, data.uploadedSha256];
  const match = await findBlocklistMatch(deps.blocklist, { sha256s, perceptualHash: upload.hashes.dHash, dctHash: upload.hashes.pHash }, deps.perceptualMatchDistance);
  if (match !== undefined) {
    deps.refusedAsBlocked?.(match.entry.kind === 'sha256' ? 'exact' : 'perceptual');
    throw new AppError('CONTENT_BLOCKED', match.distance === 0 ? 'this content was taken down and cannot be uploaded again' : 'this picture matches content that was taken down');
  }
}

/**
 * Reads, validates and fingerprints the uploaded bytes and checks them against the blocklist;
 * a refusal discards the upload before it is reported.
 */
async function validatedUpload(data: IngestJobData, deps: IngestDeps): Promise<CheckedUpload> {
  try {
    const bytes = await deps.objects.readObject(data.objectKey, deps.limits.maxUploadBytes);
    if (bytes === undefined) throw new AppError('CONFLICT', `the uploaded object ${data.objectKey} is gone`);
    const image = await inSpan('decode', () => validateImage(bytes, deps.limits));
    const upload = { bytes, image, sha256: createHash('sha256').update(bytes).digest('hex'), hashes: await pictureHashesOf(bytes) };
    await refuseBlocked(data, upload, deps);
    return upload;
  } catch (error) {
    if (error instanceof AppError && !error.retryable) await discardUpload(data, deps, 'refused');
    throw error;
  }
}

function versionFields(data: IngestJobData, upload: CheckedUpload) {
  return {
    versionId: data.versionId,
    objectKey: data.objectKey,
    contentType: upload.image.contentType,
    bytes: upload.bytes.length,
    width: upload.image.width,
    height: upload.image.height,
    sha256: upload.sha256,
    deleteKeyHash: data.deleteKeyHash,
    updateKeyHash: data.updateKeyHash,
    updatedAt: new Date(data.acceptedAt),
    // Kept so a takedown can block this content as uploaded and as a picture.
    uploadedSha256: data.uploadedSha256 ?? upload.sha256,
    perceptualHash: upload.hashes.dHash,
    perceptualDctHash: upload.hashes.pHash,
    // Absent from a replacement's job (an older producer): the image keeps its expiry.
    ...(data.expiresAt === undefined ? {} : { expiresAt: data.expiresAt === null ? null : new Date(data.expiresAt) }),
  };
}

async function createImage(data: Extract<IngestJobData, { kind: 'create' }>, deps: IngestDeps): Promise<IngestedImage> {
  // No lookup first: the insert itself finds a record already there, and a redelivered job
  // (rare) validating its bytes again is cheaper than a round trip on every upload.
  const upload = await validatedUpload(data, deps);
  const record: ImageRecord = {
    _id: data.imageKey,
    expiresAt: null,
    ...versionFields(data, upload),
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
 * already applied by an earlier delivery of this job (success), image gone (404), taken
 * down by an operator (451), or the update key raced away by a concurrent PATCH (409).
 */
async function explainMissedReplace(data: Extract<IngestJobData, { kind: 'replace' }>, deps: IngestDeps): Promise<IngestedImage> {
  const current = await deps.images.findAny(data.imageKey);
  if (current !== undefined && current.versionId === data.versionId) return resultOf(current);
  await discardUpload(data, deps, 'raced');
  if (current === undefined || current.deletedAt !== null) throw new AppError('IMAGE_NOT_FOUND', 'the image was deleted');
  if (current.takedown != null) throw new AppError('IMAGE_TAKEN_DOWN', 'the image was taken down');
  if (isExpired(current, (deps.now ?? Date.now)()) || isHidden(current)) throw new AppError('IMAGE_NOT_FOUND', 'the image expired or is hidden');
  throw new AppError('CONFLICT', 'the update key was used by a concurrent replacement');
}

async function replaceImage(data: Extract<IngestJobData, { kind: 'replace' }>, deps: IngestDeps): Promise<IngestedImage> {
  const before = await deps.images.findAny(data.imageKey);
  if (
    before === undefined ||
    before.versionId === data.versionId ||
    before.updateKeyHash !== data.expectedUpdateKeyHash ||
    before.deletedAt !== null ||
    before.takedown != null
  ) {
    return explainMissedReplace(data, deps);
  }
  const next = versionFields(data, await validatedUpload(data, deps));
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
