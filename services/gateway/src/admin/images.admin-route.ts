import type { FastifyInstance } from 'fastify';
import type { ImageRecord, ImageRepository } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { isImageKey } from '@imagehost/keys';
import { audited } from './audit-log.js';

/** What an operator sees of an image's reports; filled by the reports resource when it exists. */
export interface ImageReportsView {
  forImage(imageKey: string): Promise<readonly unknown[]>;
}

export interface ImageAdminDeps {
  readonly images: Pick<ImageRepository, 'findAny'>;
  /** The image's abuse reports; without it, `reports` is an empty list. */
  readonly reports?: ImageReportsView;
}

/** What `GET /admin/images/{image_key}` answers: the record an operator needs, never a key or key hash. */
export function describeImage(record: ImageRecord, reports: readonly unknown[]) {
  return {
    image_key: record._id,
    state: record.deletedAt !== null ? ('deleted' as const) : ('live' as const),
    content_type: record.contentType,
    bytes: record.bytes,
    width: record.width,
    height: record.height,
    sha256: record.sha256,
    version_id: record.versionId,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
    deleted_at: record.deletedAt?.toISOString() ?? null,
    reports,
  };
}

export function unknownImage(): AppError {
  return new AppError('IMAGE_NOT_FOUND', 'no image has this key');
}

/** `/admin/images/{image_key}…`: inspect an image. */
export async function imageAdminRoutes(app: FastifyInstance, deps: ImageAdminDeps): Promise<void> {
  app.get<{ Params: { imageKey: string } }>('/admin/images/:imageKey', async (request) => {
    const { imageKey } = request.params;
    // Looking is audited too: who saw a reported image is part of handling it.
    return audited(request, { action: 'inspect', imageKey }, async () => {
      const record = isImageKey(imageKey) ? await deps.images.findAny(imageKey) : undefined;
      if (record === undefined) throw unknownImage();
      return describeImage(record, (await deps.reports?.forImage(imageKey)) ?? []);
    });
  });
}
