import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { AppError } from '@imagehost/errors';
import { loggerOptions } from '@imagehost/logging';
import { sendError } from '../plugins/error-handler.js';
import { adminAuthPlugin } from './admin-auth.js';
import { writeAuditLine } from './audit-log.js';
import { blocklistAdminRoutes, type BlocklistAdminDeps } from './blocklist.admin-route.js';
import { imageAdminRoutes, type ImageAdminDeps } from './images.admin-route.js';
import { reportAdminRoutes, type ReportAdminDeps } from './reports.admin-route.js';

/**
 * Everything the admin routes use, one field per backend or collaborator. A new admin
 * resource adds its own deps type here (intersected) and its routes to ADMIN_ROUTES.
 */
export type AdminDeps = ImageAdminDeps & BlocklistAdminDeps & ReportAdminDeps;

/**
 * The admin resources, one file each (`<resource>.admin-route.ts`, exporting
 * `(app, deps) => Promise<void>` that registers `/admin/<resource>…` routes). Each runs in its
 * own encapsulated scope behind the token check, wraps its action in `audited` (audit-log.ts),
 * and names it in the route's `config.audit`, so a request its schema refuses is audited too.
 */
const ADMIN_ROUTES: readonly ((app: FastifyInstance, deps: AdminDeps) => Promise<void>)[] = [imageAdminRoutes, blocklistAdminRoutes, reportAdminRoutes];

export interface AdminAppOptions {
  /** ADMIN_TOKEN: the bearer token every request must carry. */
  readonly token: string;
  readonly logLevel: string;
  /** Where the access and audit lines go: the gateway's standard output in production. */
  readonly logStream: { write(line: string): void };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The admin API as a fastify app that is not listening (main.ts listens on ADMIN_HOST:
 * ADMIN_PORT, never on the public port). Every route sits behind the bearer token; errors
 * use the public API's JSON shape.
 */
export async function buildAdminApp(options: AdminAppOptions, deps: AdminDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions('gateway', options.logLevel), base: { service: 'gateway', listener: 'admin' }, stream: options.logStream },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 16 * 1024,
    // A field the schema does not know is refused, not silently dropped (fastify's default).
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { maxParamLength: 512 },
  });
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      if (error.statusCode >= 500) request.log.error({ err: error, code: error.code }, 'admin request failed');
      return sendError(reply, error);
    }
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const refusal = new AppError(error.code.startsWith('FST_ERR_CTP') ? 'MALFORMED_BODY' : 'BAD_REQUEST', error.message);
      const action = request.routeOptions.config.audit;
      if (action !== undefined) {
        const { imageKey } = (request.params ?? {}) as { imageKey?: string };
        writeAuditLine(request, { action, imageKey }, { outcome: 'refused', code: refusal.code });
      }
      return sendError(reply, refusal);
    }
    request.log.error({ err: error }, 'admin request failed');
    return sendError(reply, new AppError('INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('NOT_FOUND', `no admin route for ${request.method} ${request.url.split('?')[0] ?? ''}`.slice(0, 200))));
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id).header('cache-control', 'no-store');
  });
  await app.register(adminAuthPlugin, { token: options.token });
  for (const routes of ADMIN_ROUTES) {
    await app.register(async (scope) => {
      await routes(scope, deps);
    });
  }
  return app;
}
