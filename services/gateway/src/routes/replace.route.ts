import type { FastifyInstance } from 'fastify';
import type { ImageRepository } from '@imagehost/db';
import type { ByteBudget } from '../uploads/byte-budget.js';
import { readImageUpload } from '../uploads/read-image-upload.js';
import { imageUnlockedBy, presentedKey } from './capability.js';
import { sendUploadAnswer, submitVersion, type SubmitDeps } from '../uploads/submit-version.js';
import { EXPIRES_IN, EXPIRES_IN_SCHEMA, expiryOf, requestedSeconds } from '../uploads/lifetime.js';
import {
  IMAGE_KEY_PARAMS,
  IMAGE_PART,
  KEYS_HEADERS,
  KEY_RESPONSES,
  RATE_LIMIT_HEADERS,
  UPLOAD_RESPONSES,
  errorResponse,
  multipartRequestBody,
} from './schemas.js';

export interface ReplaceDeps extends SubmitDeps {
  readonly images: Pick<ImageRepository, 'findLive'>;
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
  readonly uploadIdleTimeoutMs: number;
}

const UPDATE_KEY_FIELD = 'update_key';

const replaceSchema = {
  summary: 'Replace an image; the image key stays, both capability keys are rotated',
  params: IMAGE_KEY_PARAMS,
  headers: { type: 'object', properties: { 'X-Update-Key': { type: 'string', description: 'or the form field update_key' } } },
  body: multipartRequestBody(
    { image: IMAGE_PART, [UPDATE_KEY_FIELD]: { type: 'string', description: 'before or after the file; or the X-Update-Key header' }, [EXPIRES_IN]: EXPIRES_IN_SCHEMA },
    'one file part named image, and the update key',
  ),
  response: {
    200: { description: 'Replaced: GET shows the new bytes at once and the old keys are dead', headers: KEYS_HEADERS, $ref: 'StoredImage#' },
    202: { description: 'Accepted while ingest is behind: applied once ingested, if the update key is still current then', headers: KEYS_HEADERS, $ref: 'AcceptedImage#' },
    ...UPLOAD_RESPONSES,
    ...KEY_RESPONSES,
    429: errorResponse(
      'Too many uploads from this client (per minute, or in progress at once), or too many refused keys',
      RATE_LIMIT_HEADERS,
    ),
    409: errorResponse('The update key was used by a concurrent replacement'),
    451: errorResponse('An operator took the image down (IMAGE_TAKEN_DOWN), or the new bytes match content taken down (CONTENT_BLOCKED); nothing changed'),
  },
};

/**
 * `PATCH /:imageKey`: replace the image's bytes, keeping its key, rotating both capability
 * keys. The update key comes as the `X-Update-Key` header or the `update_key` form field
 * (before or after the file). With the header, a wrong key is refused before the body is
 * read; in every case before anything is stored. The switch itself is the ingest worker's
 * compare-and-set on the key hash, so of concurrent PATCHes exactly one wins.
 */
export async function replaceRoutes(app: FastifyInstance, deps: ReplaceDeps): Promise<void> {
  app.patch<{ Params: { imageKey: string }; Headers: { 'x-update-key'?: string } }>('/:imageKey', { schema: replaceSchema }, async (request, reply) => {
    const { imageKey } = request.params;
    const header = request.headers['x-update-key'];
    if (header !== undefined) {
      await imageUnlockedBy(deps.images, imageKey, presentedKey(header, undefined, UPDATE_KEY_FIELD), (r) => r.updateKeyHash);
    }
    deps.ingest.assertAvailable();
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget, idleTimeoutMs: deps.uploadIdleTimeoutMs });
    try {
      const key = presentedKey(header, upload.fields.get(UPDATE_KEY_FIELD), UPDATE_KEY_FIELD);
      const { record, keyHash } = await imageUnlockedBy(deps.images, imageKey, key, (r) => r.updateKeyHash);
      // Without expires_in the image keeps its expiry: the compare-and-set on this key hash
      // means no other replacement changed it in between.
      const expiresAt = expiryOf(requestedSeconds(upload.fields.get(EXPIRES_IN)), deps.lifetime, deps.clock(), record.expiresAt ?? null);
      return sendUploadAnswer(reply, await submitVersion(request, deps, upload, imageKey, { kind: 'replace', expectedUpdateKeyHash: keyHash, expiresAt }, 200));
    } finally {
      upload.release();
    }
  });
}
