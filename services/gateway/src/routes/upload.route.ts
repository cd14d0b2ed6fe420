import type { FastifyInstance } from 'fastify';
import { generateImageKey } from '@imagehost/keys';
import type { ByteBudget } from '../uploads/byte-budget.js';
import { readImageUpload } from '../uploads/read-image-upload.js';
import { submitVersion, type SubmitDeps } from '../uploads/submit-version.js';
import { IMAGE_PART, KEYS_HEADERS, UPLOAD_RESPONSES, multipartRequestBody } from './schemas.js';

export interface UploadDeps extends SubmitDeps {
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
  readonly uploadIdleTimeoutMs: number;
}

const uploadSchema = {
  summary: 'Store an image',
  body: multipartRequestBody({ image: IMAGE_PART }, 'exactly one file part, named image'),
  response: {
    201: { description: 'Stored and readable at once', headers: KEYS_HEADERS, $ref: 'StoredImage#' },
    202: { description: 'Accepted while ingest is behind: readable once ingested', headers: KEYS_HEADERS, $ref: 'AcceptedImage#' },
    ...UPLOAD_RESPONSES,
  },
};

/** `POST /`: store a new image. */
export async function uploadRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  app.post('/', { schema: uploadSchema }, async (request, reply) => {
    deps.ingest.assertAvailable();
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget, idleTimeoutMs: deps.uploadIdleTimeoutMs });
    return submitVersion(request, reply, deps, upload, generateImageKey(), { kind: 'create' }, 201);
  });
}
