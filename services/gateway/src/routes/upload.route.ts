import type { FastifyInstance } from 'fastify';
import { AppError } from '@imagehost/errors';
import { generateImageKey } from '@imagehost/keys';
import type { ByteBudget } from '../uploads/byte-budget.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, parseIdempotencyKey } from '../uploads/idempotency-key.js';
import type { IdempotentUploads } from '../uploads/idempotent-uploads.js';
import { readImageUpload } from '../uploads/read-image-upload.js';
import { EXPIRES_IN, EXPIRES_IN_SCHEMA, expiryOf, requestedSeconds } from '../uploads/lifetime.js';
import { sendUploadAnswer, submitVersion, type SubmitDeps } from '../uploads/submit-version.js';
import { IDEMPOTENCY_HEADERS, IMAGE_PART, KEYS_HEADERS, UPLOAD_RESPONSES, errorResponse, multipartRequestBody } from './schemas.js';

export interface UploadDeps extends SubmitDeps {
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
  readonly uploadIdleTimeoutMs: number;
  /** Answers of POSTs with an Idempotency-Key (Redis); without it such a POST is 503 (in-process tests). */
  readonly idempotentUploads: Pick<IdempotentUploads, 'assertAvailable' | 'run'> | undefined;
}

const answerHeaders = { ...KEYS_HEADERS, 'Idempotent-Replayed': { type: 'string', const: 'true', description: 'the first answer to this Idempotency-Key, given again' } };

const uploadSchema = {
  summary: 'Store an image',
  headers: IDEMPOTENCY_HEADERS,
  body: multipartRequestBody({ image: IMAGE_PART, [EXPIRES_IN]: EXPIRES_IN_SCHEMA }, 'exactly one file part, named image'),
  response: {
    201: { description: 'Stored and readable at once', headers: answerHeaders, $ref: 'StoredImage#' },
    202: { description: 'Accepted while ingest is behind: readable once ingested', headers: answerHeaders, $ref: 'AcceptedImage#' },
    ...UPLOAD_RESPONSES,
    400: errorResponse(`${UPLOAD_RESPONSES[400].description}, or an invalid Idempotency-Key (INVALID_IDEMPOTENCY_KEY)`),
    409: errorResponse('A request with this Idempotency-Key is still being processed (IDEMPOTENCY_KEY_IN_USE); retry after Retry-After', {
      'Retry-After': { type: 'integer', description: 'seconds' },
    }),
    422: errorResponse(`${UPLOAD_RESPONSES[422].description}; or this Idempotency-Key was used with another file (IDEMPOTENCY_KEY_REUSED)`),
  },
};

/** The store of idempotent answers, or 503 at once when it cannot answer (before the body is read). */
function availableStore(store: UploadDeps['idempotentUploads']): NonNullable<UploadDeps['idempotentUploads']> {
  if (store === undefined) throw new AppError('BACKEND_UNAVAILABLE', 'idempotent uploads are unavailable here');
  store.assertAvailable();
  return store;
}

/** `POST /`: store a new image; with an Idempotency-Key, a retry gets the first answer again. */
export async function uploadRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  app.post<{ Headers: { [IDEMPOTENCY_KEY_HEADER]?: string } }>('/', { schema: uploadSchema }, async (request, reply) => {
    const idempotencyKey = parseIdempotencyKey(request.headers[IDEMPOTENCY_KEY_HEADER]);
    deps.ingest.assertAvailable();
    const idempotent = idempotencyKey === undefined ? undefined : { key: idempotencyKey, store: availableStore(deps.idempotentUploads) };
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget, idleTimeoutMs: deps.uploadIdleTimeoutMs });
    let expiresAt: number | null;
    try {
      expiresAt = expiryOf(requestedSeconds(upload.fields.get(EXPIRES_IN)), deps.lifetime, deps.clock());
    } catch (error) {
      upload.release();
      throw error;
    }
    const submit = () => submitVersion(request, deps, upload, generateImageKey(), { kind: 'create', expiresAt }, 201);
    if (idempotent === undefined) return sendUploadAnswer(reply, await submit());
    try {
      const { answer, replayed } = await idempotent.store.run(idempotent.key, upload.bytes, submit);
      if (replayed) void reply.header(REPLAYED_HEADER, 'true');
      return sendUploadAnswer(reply, answer);
    } finally {
      // The answer may be the first request's: this upload's bytes were then never stored.
      upload.release();
    }
  });
}
