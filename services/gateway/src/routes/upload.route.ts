import type { FastifyInstance } from 'fastify';
import { generateImageKey } from '@imagehost/keys';
import type { ByteBudget } from '../uploads/byte-budget.js';
import { readImageUpload } from '../uploads/read-image-upload.js';
import { submitVersion, type SubmitDeps } from '../uploads/submit-version.js';

export interface UploadDeps extends SubmitDeps {
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
}

/** `POST /`: store a new image. */
export async function uploadRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  app.post('/', async (request, reply) => {
    deps.ingest.assertAvailable();
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget });
    return submitVersion(request, reply, deps, upload, generateImageKey(), { kind: 'create' }, 201);
  });
}
