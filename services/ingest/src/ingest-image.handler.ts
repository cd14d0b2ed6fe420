import { createHash } from 'node:crypto';
import { AppError } from '@imagehost/errors';
import type { ImageRecord, ImageRepository } from '@imagehost/db';
import { enqueueReap, type IngestJobData, type IngestJobResult, type ReapQueue } from '@imagehost/jobs';
import type { ObjectStore } from '@imagehost/storage';
import { validateImage } from './validate-image.js';

export interface IngestDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly reapQueue: ReapQueue;
  readonly limits: { readonly maxUploadBytes: number; readonly maxImagePixels: number };
}

function resultOf(record: ImageRecord): IngestJobResult {
  const { _id: imageKey, versionId, contentType, bytes, width, height, sha256 } = record;
  return { imageKey, versionId, contentType, bytes, width, height, sha256 };
}

/**
 * Validates an uploaded version and records the new image. Idempotent: a redelivered job
 * finds its own record and reports it again. A refused image has its object handed to the
 * reaper before the refusal is reported, so nothing of it stays behind.
 */
export async function ingestImage(data: IngestJobData, deps: IngestDeps): Promise<IngestJobResult> {
  const earlier = await deps.images.findAny(data.imageKey);
  if (earlier !== undefined) {
    if (earlier.versionId === data.versionId) return resultOf(earlier);
    throw new AppError('CONFLICT', `image key ${data.imageKey} already belongs to another image`);
  }

  const bytes = await deps.objects.readObject(data.objectKey, deps.limits.maxUploadBytes).catch(async (error: unknown) => {
    if (error instanceof AppError && !error.retryable) await enqueueReap(deps.reapQueue, { target: 'object', objectKey: data.objectKey, reason: 'refused' });
    throw error;
  });
  if (bytes === undefined) {
    throw new AppError('CONFLICT', `the uploaded object ${data.objectKey} is gone`);
  }

  let validated;
  try {
    validated = await validateImage(bytes, deps.limits);
  } catch (error) {
    if (error instanceof AppError && !error.retryable) {
      await enqueueReap(deps.reapQueue, { target: 'object', objectKey: data.objectKey, reason: 'refused' });
    }
    throw error;
  }

  const acceptedAt = new Date(data.acceptedAt);
  const record: ImageRecord = {
    _id: data.imageKey,
    versionId: data.versionId,
    objectKey: data.objectKey,
    contentType: validated.contentType,
    bytes: bytes.length,
    width: validated.width,
    height: validated.height,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    deleteKeyHash: data.deleteKeyHash,
    updateKeyHash: data.updateKeyHash,
    createdAt: acceptedAt,
    updatedAt: acceptedAt,
    deletedAt: null,
  };
  const outcome = await deps.images.insertIfAbsent(record);
  if (outcome.inserted) return resultOf(record);
  // Two deliveries of one job raced past the first check; the one that inserted won.
  if (outcome.existing.versionId === data.versionId) return resultOf(outcome.existing);
  throw new AppError('CONFLICT', `image key ${data.imageKey} already belongs to another image`);
}
