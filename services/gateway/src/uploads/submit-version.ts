import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlocklistRepository } from '@imagehost/db';
import { AppError, errorMessage } from '@imagehost/errors';
import { within } from '@imagehost/ops';
import { stripImageMetadata } from '@imagehost/image-format';
import { generateCapabilityKey, generateVersionId, hashCapabilityKey, objectKeyFor } from '@imagehost/keys';
import { ingestJobMetadata, type IngestJobData } from '@imagehost/jobs';
import type { GatewayMetrics } from '../metrics.js';
import type { ObjectStore } from '@imagehost/storage';
import type { IngestOutcome } from './ingest-client.js';
import type { ImageUpload } from './read-image-upload.js';
import { expiresAtField, type LifetimePolicy } from './lifetime.js';

/** A job on the ingest queue as `enqueue` returned it, to be handed back to `waitForResult`. */
export interface QueuedIngest {
  readonly id?: string | undefined;
}

/** What POST and PATCH need of the ingest queue (an `IngestClient` in production). */
export interface IngestQueueClient {
  /** Throws 503 at once while no job can be queued, before the upload is read. */
  assertAvailable(): void;
  /** Queues the job; throws 503 when the queue did not take it. */
  enqueue(data: IngestJobData): Promise<QueuedIngest>;
  /** The worker's result, `pending` when it did not come within `waitMs`; throws the worker's refusal. */
  waitForResult(job: QueuedIngest, waitMs: number, enqueuedAt: number): Promise<IngestOutcome>;
}

export interface SubmitDeps {
  readonly metrics: GatewayMetrics;
  readonly objects: Pick<ObjectStore, 'putObject' | 'removeObject'>;
  readonly ingest: IngestQueueClient;
  /** Taken-down content: an upload with the same bytes is refused (451) before it is stored. */
  readonly blocklist: Pick<BlocklistRepository, 'findCandidates'>;
  readonly ingestWaitMs: number;
  readonly publicBaseUrl: string | undefined;
  /** Whether identifying metadata is removed from the bytes before they are stored (STRIP_METADATA). */
  readonly stripMetadata: boolean;
  /** Milliseconds since the epoch: when an upload is accepted (its Last-Modified once ingested). */
  readonly clock: () => number;
  /** How long images may live and live by default (MAX_IMAGE_LIFETIME, DEFAULT_IMAGE_LIFETIME). */
  readonly lifetime: LifetimePolicy;
}

export function publicUrl(request: FastifyRequest, publicBaseUrl: string | undefined, imageKey: string): string {
  const base = publicBaseUrl ?? `${request.protocol}://${request.host}`;
  return `${base}/${imageKey}`;
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** How long an upload waits for the gateway's blocklist lookup before the worker's check has to do. */
const BLOCKLIST_LOOKUP_DEADLINE_MS = 1000;

/**
 * Refuses bytes that are on the blocklist, as uploaded or as they would be stored, before
 * anything is written. (Re-encoded copies need the pixels: the ingest worker catches those.)
 * The worker checks the same digests again and is the one that decides, so while MongoDB does
 * not answer here the upload goes on to wait in the queue, as every upload does then, rather
 * than being refused: the worker refuses it once MongoDB is back and the reaper removes it.
 */
async function refuseBlockedBytes(
  blocklist: SubmitDeps['blocklist'],
  sha256s: readonly string[],
  log: FastifyRequest['log'],
  metrics: GatewayMetrics,
): Promise<void> {
  let entries;
  try {
    entries = await within(BLOCKLIST_LOOKUP_DEADLINE_MS, blocklist.findCandidates({ sha256s }));
  } catch (error) {
    log.warn({ err: errorMessage(error) }, 'blocklist lookup failed; the ingest worker checks the upload');
    return;
  }
  if (entries.some((entry) => entry.kind === 'sha256' && sha256s.includes(entry.hash))) {
    metrics.moderation.blocklistRefusals.inc({ match: 'exact' });
    throw new AppError('CONTENT_BLOCKED', 'this content was taken down and cannot be uploaded again');
  }
}

/**
 * What distinguishes a new image from a replacement in the ingest job, and when the image
 * expires once this version is recorded (ms since the epoch, `null` for never).
 */
export type VersionIntent = { readonly expiresAt: number | null } & (
  | { readonly kind: 'create' }
  | { readonly kind: 'replace'; readonly expectedUpdateKeyHash: string }
);

/** What POST and PATCH answer once the upload is stored: the status and the JSON body. */
export interface UploadAnswer {
  readonly status: 200 | 201 | 202;
  readonly body: { readonly image_key: string } & Readonly<Record<string, unknown>>;
}

/** Sends an upload's answer, with where the image is and that the keys in it must not be cached. */
export function sendUploadAnswer(reply: FastifyReply, answer: UploadAnswer): FastifyReply {
  return reply.status(answer.status).header('location', `/${answer.body.image_key}`).header('cache-control', 'no-store').send(answer.body);
}

/**
 * The common path of POST and PATCH: strip the upload's metadata (unless turned off), store
 * it as a fresh version object with two fresh keys (the object carrying its ingest job),
 * queue its ingest (carrying only the keys' hashes), wait a bounded time for the result and
 * answer — `successStatus` with the keys and the image's facts, or 202 when the ingest
 * backlog outlasts the wait. A file whose metadata is malformed is refused (422) before
 * anything is stored.
 */
export async function submitVersion(
  request: FastifyRequest,
  deps: SubmitDeps,
  upload: ImageUpload,
  imageKey: string,
  intent: VersionIntent,
  successStatus: 200 | 201,
): Promise<UploadAnswer> {
  const versionId = generateVersionId();
  const objectKey = objectKeyFor(imageKey, versionId);
  const deleteKey = generateCapabilityKey();
  const updateKey = generateCapabilityKey();
  let stored: { readonly bytes: Buffer; readonly removedBytes: number };
  let job: IngestJobData;
  try {
    // Before stripping, which rewrites the bytes in place.
    const uploadedSha256 = sha256Of(upload.bytes);
    stored = deps.stripMetadata ? stripImageMetadata(upload.bytes, upload.contentType) : { bytes: upload.bytes, removedBytes: 0 };
    const storedSha256 = deps.stripMetadata ? sha256Of(stored.bytes) : uploadedSha256;
    await refuseBlockedBytes(deps.blocklist, [uploadedSha256, storedSha256], request.log, deps.metrics);
    job = {
      ...intent,
      imageKey,
      versionId,
      objectKey,
      deleteKeyHash: hashCapabilityKey(deleteKey),
      updateKeyHash: hashCapabilityKey(updateKey),
      acceptedAt: deps.clock(),
      requestId: request.id,
      uploadedSha256,
    };
    // The object carries its job, so the sweep can enqueue it again if Redis loses it.
    await deps.objects.putObject(objectKey, stored.bytes, upload.contentType, ingestJobMetadata(job), storedSha256);
    deps.metrics.uploadedBytes.inc(stored.bytes.length);
  } finally {
    upload.release();
  }

  let queued: QueuedIngest;
  const enqueuedAt = performance.now();
  try {
    queued = await deps.ingest.enqueue(job);
  } catch (error) {
    // Nothing will ever ingest this object: take it back now rather than leave it to a sweep.
    await deps.objects.removeObject(objectKey).catch(() => undefined);
    throw error;
  }
  request.log.info({ imageKey, jobId: queued.id, kind: intent.kind, metadataBytesRemoved: stored.removedBytes }, 'upload stored, ingest queued');

  let outcome: IngestOutcome;
  try {
    outcome = await deps.ingest.waitForResult(queued, deps.ingestWaitMs, enqueuedAt);
  } catch (error) {
    // A refusal's object is the reaper's already; an ingest that failed for good is answered
    // 503 ("not stored"), so its object must not become an image later either.
    if (error instanceof AppError && error.retryable) await deps.objects.removeObject(objectKey).catch(() => undefined);
    throw error;
  }
  const keys = { image_key: imageKey, delete_key: deleteKey, update_key: updateKey, url: publicUrl(request, deps.publicBaseUrl, imageKey) };
  const removed = { metadata_bytes_removed: stored.removedBytes, expires_at: expiresAtField(intent.expiresAt) };
  if (outcome.state === 'pending') {
    return { status: 202, body: { ...keys, status: 'processing', content_type: upload.contentType, bytes: stored.bytes.length, ...removed } };
  }
  const { result } = outcome;
  return {
    status: successStatus,
    body: { ...keys, content_type: result.contentType, width: result.width, height: result.height, bytes: result.bytes, ...removed },
  };
}
