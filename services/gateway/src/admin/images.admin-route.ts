import type { FastifyInstance } from 'fastify';
import { TAKEDOWN_REASONS, type ImageRecord, type ImageRepository, type TakedownReason } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { isImageKey } from '@imagehost/keys';
import { audited } from './audit-log.js';
import { restoreImage, takeDownImage, type TakedownDeps } from './takedown.js';

/** What an operator sees of an image's reports; filled by the reports resource when it exists. */
export interface ImageReportsView {
  forImage(imageKey: string): Promise<readonly unknown[]>;
}

export interface ImageAdminDeps extends TakedownDeps {
  readonly images: Pick<ImageRepository, 'findAny' | 'takeDown' | 'liftTakedown'>;
  /** The image's abuse reports; without it, `reports` is an empty list. */
  readonly reports?: ImageReportsView;
}

function stateOf(record: ImageRecord): 'live' | 'deleted' | 'taken-down' {
  if (record.deletedAt !== null) return 'deleted';
  return record.takedown == null ? 'live' : 'taken-down';
}

/** What `GET /admin/images/{image_key}` answers: the record an operator needs, never a key or key hash. */
export function describeImage(record: ImageRecord, reports: readonly unknown[]) {
  const { takedown } = record;
  return {
    image_key: record._id,
    state: stateOf(record),
    content_type: record.contentType,
    bytes: record.bytes,
    width: record.width,
    height: record.height,
    sha256: record.sha256,
    uploaded_sha256: record.uploadedSha256 ?? null,
    perceptual_hash: record.perceptualHash ?? null,
    perceptual_dct_hash: record.perceptualDctHash ?? null,
    version_id: record.versionId,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
    deleted_at: record.deletedAt?.toISOString() ?? null,
    takedown:
      takedown == null
        ? null
        : { reason: takedown.reason, note: takedown.note, at: takedown.at.toISOString(), retain_until: takedown.retainUntil.toISOString(), request_id: takedown.requestId },
    reports,
  };
}

export function unknownImage(): AppError {
  return new AppError('IMAGE_NOT_FOUND', 'no image has this key');
}

const IMAGE_PARAMS = { type: 'object', required: ['imageKey'], properties: { imageKey: { type: 'string' } } } as const;

const takedownSchema = {
  params: IMAGE_PARAMS,
  body: {
    type: 'object',
    required: ['reason'],
    additionalProperties: false,
    properties: { reason: { type: 'string', enum: TAKEDOWN_REASONS }, note: { type: 'string', maxLength: 2000 } },
  },
} as const;

/** `/admin/images/{image_key}…`: inspect an image, take it down, restore it. */
export async function imageAdminRoutes(app: FastifyInstance, deps: ImageAdminDeps): Promise<void> {
  const known = (imageKey: string) => {
    if (!isImageKey(imageKey)) throw unknownImage();
    return imageKey;
  };

  app.get<{ Params: { imageKey: string } }>('/admin/images/:imageKey', { schema: { params: IMAGE_PARAMS }, config: { audit: 'inspect' } }, async (request) => {
    const { imageKey } = request.params;
    // Looking is audited too: who saw a reported image is part of handling it.
    return audited(request, { action: 'inspect', imageKey }, async () => {
      const record = await deps.images.findAny(known(imageKey));
      if (record === undefined) throw unknownImage();
      return describeImage(record, (await deps.reports?.forImage(imageKey)) ?? []);
    });
  });

  app.post<{ Params: { imageKey: string }; Body: { reason: TakedownReason; note?: string } }>(
    '/admin/images/:imageKey/takedown',
    { schema: takedownSchema, config: { audit: 'takedown' } },
    async (request) => {
      const { imageKey } = request.params;
      const { reason, note = '' } = request.body;
      return audited(request, { action: 'takedown', imageKey, reason }, async () => {
        const outcome = await takeDownImage(known(imageKey), { reason, note, requestId: request.id }, deps);
        return {
          ...describeImage(outcome.record, (await deps.reports?.forImage(imageKey)) ?? []),
          already_taken_down: outcome.already,
          quarantined_objects: outcome.quarantined,
          blocklist_entries_added: outcome.blocked,
        };
      });
    },
  );

  app.post<{ Params: { imageKey: string } }>('/admin/images/:imageKey/restore', { schema: { params: IMAGE_PARAMS }, config: { audit: 'restore' } }, async (request) => {
    const { imageKey } = request.params;
    return audited(request, { action: 'restore', imageKey }, async () => {
      const outcome = await restoreImage(known(imageKey), deps);
      return { ...describeImage(outcome.record, (await deps.reports?.forImage(imageKey)) ?? []), blocklist_entries_removed: outcome.unblocked };
    });
  });
}
