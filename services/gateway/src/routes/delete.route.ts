import type { FastifyInstance } from 'fastify';
import { AppError, errorMessage } from '@imagehost/errors';
import type { ImageRepository } from '@imagehost/db';
import { hashCapabilityKey, isCapabilityKey } from '@imagehost/keys';
import { findLiveImage, presentedKey } from './capability.js';
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
  // Optional in the document (plugins/openapi.ts): with the header, the body may be absent or empty.
  body: {
    content: {
      'application/json': {
        schema: {
          type: 'object',
          description: 'The delete key. With X-Delete-Key the body may be absent, or empty even with Content-Type: application/json; when both are sent, the header counts',
          properties: { [DELETE_KEY_FIELD]: { type: 'string', description: 'required unless X-Delete-Key is sent (else 401)' } },
        },
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
    400: errorResponse('Malformed body (MALFORMED_BODY): not JSON, not an object, or a delete_key that is not a string'),
    413: errorResponse('A body larger than a JSON key needs'),
    415: errorResponse('A body that is not JSON (a Content-Type other than application/json)'),
    503: errorResponse('A backend is unavailable; nothing changed'),
  },
};

interface DeleteRequest {
  Params: { imageKey: string };
  Headers: { 'x-delete-key'?: string };
  Body: { [DELETE_KEY_FIELD]?: string } | undefined;
}

/**
 * `DELETE /:imageKey`: one compare-and-set on the delete-key hash marks the image deleted, so
 * every read gives 404 from that moment; the reaper then purges bytes and record. The key
 * comes as `{"delete_key": …}` or the `X-Delete-Key` header.
 */
export async function deleteRoutes(app: FastifyInstance, deps: DeleteDeps): Promise<void> {
  // JSON only: any other body is 415. An empty JSON body says nothing, as an absent one does:
  // the key is the header's, or missing (401). fastify's own parser reads the rest; the schema
  // checks its shape. A `__proto__` or `constructor.prototype` member is dropped, like any
  // member other than delete_key is ignored: refusing it would refuse a body the schema allows.
  const parseJson = app.getDefaultJsonParser('remove', 'remove');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') done(null, {});
    else void parseJson(request, text, done);
  });
  app.delete<DeleteRequest>('/:imageKey', { schema: deleteSchema }, async (request, reply) => {
    const { imageKey } = request.params;
    const key = presentedKey(request.headers['x-delete-key'], request.body?.[DELETE_KEY_FIELD], DELETE_KEY_FIELD);
    const deleted = isCapabilityKey(key) && (await deps.images.markDeleted(imageKey, hashCapabilityKey(key), new Date(deps.clock())));
    if (!deleted) {
      // Why not: unknown or deleted (404), taken down (451), or the wrong key (403).
      await findLiveImage(deps.images, imageKey);
      throw new AppError('KEY_INVALID', 'the key does not match this image');
    }
    // Queued without holding the answer: the deletion stands either way (reads already give
    // 404), and a purge a hung Redis never takes is the sweep's, from the tombstone.
    deps.purges.purgeImage(imageKey, request.id).catch((error: unknown) => {
      request.log.warn({ imageKey, err: errorMessage(error) }, 'could not queue the purge of a deleted image');
    });
    request.log.info({ imageKey }, 'image deleted');
    return reply.status(200).send({ image_key: imageKey });
  });
}
