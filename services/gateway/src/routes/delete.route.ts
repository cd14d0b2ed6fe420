import type { FastifyInstance } from 'fastify';
import { AppError } from '@imagehost/errors';
import type { ImageRepository } from '@imagehost/db';
import { enqueueReap, type ReapQueue } from '@imagehost/jobs';
import { hashCapabilityKey, isCapabilityKey, isImageKey } from '@imagehost/keys';
import { imageNotFound, presentedKey } from './capability.js';

export interface DeleteDeps {
  readonly images: ImageRepository;
  readonly reapQueue: ReapQueue;
}

const DELETE_KEY_FIELD = 'delete_key';

function deleteKeyField(body: unknown): unknown {
  if (body === undefined) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AppError('MALFORMED_BODY', 'the body must be a JSON object like {"delete_key": "…"}');
  return (body as Record<string, unknown>)[DELETE_KEY_FIELD];
}

/**
 * `DELETE /:imageKey`: one compare-and-set on the delete-key hash marks the image deleted, so
 * every read gives 404 from that moment; the reaper then purges bytes and record. The key
 * comes as `{"delete_key": …}` or the `X-Delete-Key` header.
 */
export async function deleteRoutes(app: FastifyInstance, deps: DeleteDeps): Promise<void> {
  app.delete<{ Params: { imageKey: string } }>('/:imageKey', async (request, reply) => {
    const { imageKey } = request.params;
    const field = deleteKeyField(request.body);
    if (!isImageKey(imageKey)) throw imageNotFound();
    const key = presentedKey(request.headers['x-delete-key'], field, DELETE_KEY_FIELD);
    const deleted = isCapabilityKey(key) && (await deps.images.markDeleted(imageKey, hashCapabilityKey(key), new Date()));
    if (!deleted) {
      const record = await deps.images.findLive(imageKey);
      if (record === undefined) throw imageNotFound();
      throw new AppError('KEY_INVALID', 'the key does not match this image');
    }
    try {
      await enqueueReap(deps.reapQueue, { target: 'image', imageKey });
    } catch (error) {
      // The deletion stands (reads already give 404); the sweep purges the tombstone later.
      request.log.warn({ imageKey, err: error instanceof Error ? error.message : String(error) }, 'could not queue the purge of a deleted image');
    }
    request.log.info({ imageKey }, 'image deleted');
    return reply.status(200).send({ image_key: imageKey });
  });
}
