import type { FastifyInstance } from 'fastify';
import { REPORT_CONTACT_MAX, REPORT_DETAILS_MAX, REPORT_REASONS, type ImageRepository, type ReportReason, type ReportRepository } from '@imagehost/db';
import { generateReportId, hashReporter } from '@imagehost/keys';
import { findLiveImage } from './capability.js';
import { ANY_ROUTE_RESPONSES, IMAGE_KEY_PARAMS, RATE_LIMIT_HEADERS, errorResponse } from './schemas.js';

export interface ReportDeps {
  /** The images as the public sees them: an unknown, deleted, expired or hidden one is 404. */
  readonly images: Pick<ImageRepository, 'findLive'>;
  readonly reports: Pick<ReportRepository, 'open' | 'countOpen'>;
  /** Hides the image on every replica until an operator resolves its reports. */
  readonly hide: (imageKey: string, at: Date) => Promise<boolean>;
  /** Distinct clients with an open report that hide an image (REPORT_HIDE_THRESHOLD); 0: never. */
  readonly hideThreshold: number;
  /** Milliseconds since the epoch: when a report is made. */
  readonly clock: () => number;
  /** Told of each report stored (not of repeats), for the metrics. */
  readonly reported?: (reason: ReportReason) => void;
}

interface ReportInput {
  readonly reason: ReportReason;
  readonly details: string | null;
  readonly contact: string | null;
}

const reportSchema = {
  summary: 'Report an image to the operators (illegal content, copyright, abuse…)',
  params: IMAGE_KEY_PARAMS,
  // Whatever the content type (a text body is a string, not an object): JSON is the only one that passes.
  body: {
    type: 'object',
    required: ['reason'],
    description: 'Members other than these are ignored',
    properties: {
      reason: { type: 'string', enum: REPORT_REASONS },
      details: { type: 'string', maxLength: REPORT_DETAILS_MAX, description: 'what is wrong, for the operator' },
      contact: { type: 'string', maxLength: REPORT_CONTACT_MAX, description: 'how the operator may reach the reporter (optional)' },
    },
  },
  response: {
    202: {
      description:
        'Received: the report waits in the moderation queue. A client with a report still open on this image gets the same answer, and no second report is stored',
      type: 'object',
      required: ['image_key', 'status'],
      additionalProperties: false,
      properties: { image_key: { type: 'string' }, status: { type: 'string', const: 'received' } },
    },
    ...ANY_ROUTE_RESPONSES,
    400: errorResponse('Not a JSON object, a reason not in the list, details or contact too long or not text, (INVALID_REPORT); malformed JSON (MALFORMED_BODY)'),
    403: errorResponse('A page from an origin not in CORS_ORIGINS (ORIGIN_NOT_ALLOWED)'),
    404: errorResponse('Unknown, deleted, expired or hidden image, or a malformed key'),
    413: errorResponse('A body larger than a report needs'),
    415: errorResponse('A body of a type other than JSON or text'),
    429: errorResponse('Too many reports from this client (REPORT_RATE_LIMIT per hour)', RATE_LIMIT_HEADERS),
    503: errorResponse('A backend is unavailable; nothing was stored', { 'Retry-After': { type: 'integer', description: 'seconds' } }),
  },
};

/** An optional text field as stored: trimmed, `null` when absent or blank. */
function optionalText(value: string | undefined): string | null {
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
}

/**
 * `POST /:imageKey/report`: a report from the public, stored open for the moderation queue.
 * A client (its address, as the rate limits see it) has at most one open report per image: a
 * repeat is answered alike and stores nothing. With REPORT_HIDE_THRESHOLD set, the report
 * that brings an image to that many distinct reporters hides it until an operator decides.
 */
export async function reportRoutes(app: FastifyInstance, deps: ReportDeps): Promise<void> {
  app.post<{ Params: { imageKey: string }; Body: { reason: ReportReason; details?: string; contact?: string } }>(
    '/:imageKey/report',
    { schema: reportSchema, config: { invalidInputCode: 'INVALID_REPORT' } },
    async (request, reply) => {
    const { imageKey } = request.params;
    const { reason, details, contact } = request.body;
    const input: ReportInput = { reason, details: optionalText(details), contact: optionalText(contact) };
    await findLiveImage(deps.images, imageKey);
    const at = deps.clock();
    const reportId = generateReportId(at);
    const outcome = await deps.reports.open({ _id: reportId, imageKey, reporter: hashReporter(request.ip), ...input, createdAt: new Date(at) });
    if (outcome.opened) {
      deps.reported?.(input.reason);
      // Never the details or the contact: what a reporter wrote stays in the database.
      request.log.info({ imageKey, reportId, reason: input.reason }, 'image reported');
      if (deps.hideThreshold > 0 && (await deps.reports.countOpen(imageKey)) >= deps.hideThreshold && (await deps.hide(imageKey, new Date(at)))) {
        request.log.warn({ imageKey, threshold: deps.hideThreshold }, 'image hidden until an operator resolves its reports');
      }
    }
    return reply.status(202).send({ image_key: imageKey, status: 'received' });
    },
  );
}
