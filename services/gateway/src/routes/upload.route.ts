import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ObjectStore } from '@imagehost/storage';
import { generateCapabilityKey, generateImageKey, generateVersionId, hashCapabilityKey, objectKeyFor } from '@imagehost/keys';
import type { IngestJobData } from '@imagehost/jobs';
import type { IngestClient } from '../ingest-client.js';
import type { ByteBudget } from '../upload/byte-budget.js';
import { readImageUpload } from '../upload/read-image-upload.js';

export interface UploadDeps {
  readonly objects: ObjectStore;
  readonly ingest: IngestClient;
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
  readonly ingestWaitMs: number;
  readonly publicBaseUrl: string | undefined;
}

export function publicUrl(request: FastifyRequest, publicBaseUrl: string | undefined, imageKey: string): string {
  const base = publicBaseUrl ?? `${request.protocol}://${request.host}`;
  return `${base}/${imageKey}`;
}

/** `POST /`: store a new image. */
export async function uploadRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  app.post('/', async (request, reply) => {
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget });
    const imageKey = generateImageKey();
    const versionId = generateVersionId();
    const objectKey = objectKeyFor(imageKey, versionId);
    const deleteKey = generateCapabilityKey();
    const updateKey = generateCapabilityKey();
    try {
      await deps.objects.putObject(objectKey, upload.bytes, upload.contentType);
    } finally {
      upload.release();
    }

    const job: IngestJobData = {
      kind: 'create',
      imageKey,
      versionId,
      objectKey,
      deleteKeyHash: hashCapabilityKey(deleteKey),
      updateKeyHash: hashCapabilityKey(updateKey),
      acceptedAt: Date.now(),
    };
    let jobId: string;
    try {
      jobId = await deps.ingest.enqueue(job);
    } catch (error) {
      // Nothing will ever ingest this object: take it back now rather than leave it to a sweep.
      await deps.objects.removeObject(objectKey).catch(() => undefined);
      throw error;
    }
    request.log.info({ imageKey, jobId }, 'upload stored, ingest queued');

    const outcome = await deps.ingest.waitForResult(jobId, deps.ingestWaitMs);
    const url = publicUrl(request, deps.publicBaseUrl, imageKey);
    const keys = { image_key: imageKey, delete_key: deleteKey, update_key: updateKey, url };
    void reply.header('location', `/${imageKey}`).header('cache-control', 'no-store');
    if (outcome.state === 'pending') {
      return reply.status(202).send({ ...keys, status: 'processing', content_type: upload.contentType, bytes: upload.bytes.length });
    }
    const { result } = outcome;
    return reply.status(201).send({
      ...keys,
      content_type: result.contentType,
      width: result.width,
      height: result.height,
      bytes: result.bytes,
    });
  });
}
