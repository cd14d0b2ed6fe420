import type { FastifyInstance } from 'fastify';
import type { ImageRepository } from '@imagehost/db';
import type { ByteBudget } from '../uploads/byte-budget.js';
import { readImageUpload } from '../uploads/read-image-upload.js';
import { imageNotFound, imageUnlockedBy, presentedKey } from './capability.js';
import { submitVersion, type SubmitDeps } from '../uploads/submit-version.js';
import { isImageKey } from '@imagehost/keys';

export interface ReplaceDeps extends SubmitDeps {
  readonly images: ImageRepository;
  readonly budget: ByteBudget;
  readonly maxUploadBytes: number;
}

const UPDATE_KEY_FIELD = 'update_key';

/**
 * `PATCH /:imageKey`: replace the image's bytes, keeping its key, rotating both capability
 * keys. The update key comes as the `X-Update-Key` header or the `update_key` form field
 * (before or after the file). With the header, a wrong key is refused before the body is
 * read; in every case before anything is stored. The switch itself is the ingest worker's
 * compare-and-set on the key hash, so of concurrent PATCHes exactly one wins.
 */
export async function replaceRoutes(app: FastifyInstance, deps: ReplaceDeps): Promise<void> {
  app.patch<{ Params: { imageKey: string } }>('/:imageKey', async (request, reply) => {
    const { imageKey } = request.params;
    if (!isImageKey(imageKey)) throw imageNotFound();
    const header = request.headers['x-update-key'];
    if (header !== undefined) {
      await imageUnlockedBy(deps.images, imageKey, presentedKey(header, undefined, UPDATE_KEY_FIELD), (r) => r.updateKeyHash);
    }
    deps.ingest.assertAvailable();
    const upload = await readImageUpload(request, { maxUploadBytes: deps.maxUploadBytes, budget: deps.budget });
    try {
      const key = presentedKey(header, upload.fields.get(UPDATE_KEY_FIELD), UPDATE_KEY_FIELD);
      const { keyHash } = await imageUnlockedBy(deps.images, imageKey, key, (r) => r.updateKeyHash);
      return await submitVersion(request, reply, deps, upload, imageKey, { kind: 'replace', expectedUpdateKeyHash: keyHash }, 200);
    } finally {
      upload.release();
    }
  });
}
