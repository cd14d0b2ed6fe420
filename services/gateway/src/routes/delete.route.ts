import type { FastifyInstance } from 'fastify';
import { AppError } from '@imagehost/errors';
import type { ImageRepository } from '@imagehost/db';
import { hashCapabilityKey, isCapabilityKey, isImageKey } from '@imagehost/keys';
import { findLiveImage, imageNotFound, presentedKey } from './capability.js';
import { ANY_ROUTE_RESPONSES, IMAGE_KEY_PARAMS, KEY_RESPONSES, errorResponse } from './schemas.js';

/** Purges of deleted images, carried out later by the reaper (the `reap` queue in production). */
export interface PurgeQueue {
  /** Queues the removal of a deleted image's bytes and record (`requestId`: the DELETE's, for its logs). */
  purgeImage(imageKey: string, requestId: string): Promise<void>;
}

export interface DeleteDeps {
  readonly images: Pick<ImageRepository, 'findLive' | 'markDeleted'>;
  readonly purges: PurgeQueue;
  /** Milliseconds since the epoch: when a deletion happens. */
  readonly clock: () => number;
}

const DELETE_KEY_FIELD = 'delete_key';

const deleteSchema = {
  summary: 'Delete an image for good',
  params: IMAGE_KEY_PARAMS,
  headers: { type: 'object', properties: { 'X-Delete-Key': { type: 'string', description: 'or the JSON body' } } },
  body: {
    content: {
      'application/json': {
        schema: { type: 'object', required: [DELETE_KEY_FIELD], properties: { [DELETE_KEY_FIELD]: { type: 'string' } } },
      },
    },
  },
  response: {
    200: {
      description: 'Deleted: every method on this key gives 404 from now on; bytes and record are purged within seconds',
      type: 'object',
      required: ['image_key'],
      additionalProperties: false,
      properties: { image_key: { type: 'string' } },
    },
    ...ANY_ROUTE_RESPONSES,
    ...KEY_RESPONSES,
    400: errorResponse('Malformed body: not JSON, not an object, or a delete_key that is not a string'),
    413: errorResponse('A body larger than a JSON key needs'),
    415: errorResponse('A body that is not JSON'),
    503: errorResponse('A backend is unavailable; nothing changed'),
  },
};

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
  app.delete<{ Params: { imageKey: string } }>('/:imageKey', { schema: deleteSchema }, async (request, reply) => {
    const { imageKey } = request.params;
    const field = deleteKeyField(request.body);
    if (!isImageKey(imageKey)) throw imageNotFound();
    const key = presentedKey(request.headers['x-delete-key'], field, DELETE_KEY_FIELD);
    const deleted = isCapabilityKey(key) && (await deps.images.markDeleted(imageKey, hashCapabilityKey(key), new Date(deps.clock())));
    if (!deleted) {
      // Why not: unknown or deleted (404), taken down (451), or the wrong key (403).
      await findLiveImage(deps.images, imageKey);
      throw new AppError('KEY_INVALID', 'the key does not match this image');
    }
    // Queued without holding the answer: the deletion stands either way (reads already give
    // 404), and a purge a hung Redis never takes is the sweep's, from the tombstone.
    deps.purges.purgeImage(imageKey, request.id).catch((error: unknown) => {
      request.log.warn({ imageKey, err: error instanceof Error ? error.message : String(error) }, 'could not queue the purge of a deleted image');
    });
    request.log.info({ imageKey }, 'image deleted');
    return reply.status(200).send({ image_key: imageKey });
  });
}
