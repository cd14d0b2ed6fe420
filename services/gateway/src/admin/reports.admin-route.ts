import type { FastifyInstance } from 'fastify';
import { REPORT_STATUSES, TAKEDOWN_REASONS, type ImageRepository, type ReportRecord, type ReportRepository, type ReportStatus, type TakedownReason } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { isReportId } from '@imagehost/keys';
import { audited } from './audit-log.js';
import type { ImageReportsView } from './images.admin-route.js';
import { takeDownImage, type TakedownDeps } from './takedown.js';

export interface ReportAdminDeps extends TakedownDeps {
  readonly images: TakedownDeps['images'] & Pick<ImageRepository, 'unhide'>;
  readonly reportQueue: Pick<ReportRepository, 'list' | 'findById' | 'resolveOpen'>;
}

const PAGE_DEFAULT = 50;
const PAGE_MAX = 500;

/** What an operator sees of a report: all of it, the reporter only as a hash. */
export function describeReport(report: ReportRecord) {
  return {
    id: report._id,
    image_key: report.imageKey,
    reason: report.reason,
    details: report.details,
    contact: report.contact,
    reporter: report.reporter,
    status: report.status,
    created_at: report.createdAt.toISOString(),
    resolved_at: report.resolvedAt?.toISOString() ?? null,
    resolution: report.resolution,
  };
}

/** The reports of one image, for `GET /admin/images/{image_key}`. */
export function imageReportsView(reports: Pick<ReportRepository, 'listForImage'>): ImageReportsView {
  return { forImage: async (imageKey) => (await reports.listForImage(imageKey)).map(describeReport) };
}

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: REPORT_STATUSES },
      limit: { type: 'integer', minimum: 1, maximum: PAGE_MAX },
      after: { type: 'string', maxLength: 64 },
    },
  },
} as const;

const resolveSchema = {
  params: { type: 'object', required: ['reportId'], properties: { reportId: { type: 'string' } } },
  body: {
    type: 'object',
    required: ['action'],
    additionalProperties: false,
    properties: {
      action: { type: 'string', enum: ['dismiss', 'takedown'] },
      // Required with takedown: the takedown's own reason.
      reason: { type: 'string', enum: TAKEDOWN_REASONS },
      note: { type: 'string', maxLength: 2000 },
    },
  },
} as const;

interface ResolveBody {
  readonly action: 'dismiss' | 'takedown';
  readonly reason?: TakedownReason;
  readonly note?: string;
}

function unknownReport(): AppError {
  return new AppError('NOT_FOUND', 'no report has this id');
}

/**
 * `/admin/reports`: the moderation queue (a status, oldest first, in pages) and its decisions.
 * A decision is about the image: resolving one report resolves every open report of its
 * image. `dismiss` shows a hidden image again; `takedown` takes it down (as
 * `/admin/images/{image_key}/takedown` does) and marks its reports actioned.
 */
export async function reportAdminRoutes(app: FastifyInstance, deps: ReportAdminDeps): Promise<void> {
  app.get<{ Querystring: { status?: ReportStatus; limit?: number; after?: string } }>(
    '/admin/reports',
    { schema: listSchema, config: { audit: 'reports.list' } },
    async (request) => {
      const { status = 'open', limit = PAGE_DEFAULT, after } = request.query;
      return audited(request, { action: 'reports.list', detail: { status } }, async () => {
        const reports = await deps.reportQueue.list(status, limit, after);
        return { reports: reports.map(describeReport), next_after: reports.length === limit ? (reports.at(-1)?._id ?? null) : null };
      });
    },
  );

  app.post<{ Params: { reportId: string }; Body: ResolveBody }>(
    '/admin/reports/:reportId/resolve',
    { schema: resolveSchema, config: { audit: 'reports.resolve' } },
    async (request) => {
      const { reportId } = request.params;
      const { action, reason, note = '' } = request.body;
      const report = isReportId(reportId) ? await deps.reportQueue.findById(reportId) : undefined;
      const imageKey = report?.imageKey;
      return audited(request, { action: `reports.${action}`, imageKey, reason, detail: { report: reportId.slice(0, 64) } }, async () => {
        if (report === undefined) throw unknownReport();
        if (report.status !== 'open') throw new AppError('CONFLICT', `the report is already ${report.status}`);
        const at = new Date(deps.clock());
        if (action === 'dismiss') {
          const resolved = await deps.reportQueue.resolveOpen(report.imageKey, 'dismissed', at, note === '' ? null : note);
          const shown = await deps.images.unhide(report.imageKey);
          return { image_key: report.imageKey, action, reports_resolved: resolved, unhidden: shown };
        }
        if (reason === undefined) throw new AppError('BAD_REQUEST', `a takedown needs a reason: one of ${TAKEDOWN_REASONS.join(', ')}`);
        const outcome = await takeDownImage(report.imageKey, { reason, note, requestId: request.id }, deps);
        const resolved = await deps.reportQueue.resolveOpen(report.imageKey, 'actioned', at, note === '' ? null : note);
        // The takedown supersedes the hiding: a restore must show the image again.
        await deps.images.unhide(report.imageKey);
        return { image_key: report.imageKey, action, reports_resolved: resolved, already_taken_down: outcome.already, quarantined_objects: outcome.quarantined };
      });
    },
  );
}
