import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '@imagehost/config';
import type { ImageRepository } from '@imagehost/db';
import type { ReapQueue } from '@imagehost/jobs';
import { loggerOptions } from '@imagehost/logging';
import type { GatewayMetrics } from './metrics.js';
import type { ObjectStore } from '@imagehost/storage';
import type { IngestClient } from './uploads/ingest-client.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { openApiDocument } from './openapi.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { deleteRoutes } from './routes/delete.route.js';
import { replaceRoutes } from './routes/replace.route.js';
import { uploadRoutes } from './routes/upload.route.js';
import { viewRoutes } from './routes/view.route.js';
import { ByteBudget } from './uploads/byte-budget.js';
import { FreshLookups } from './reads/fresh-lookups.js';
import { VersionCache } from './reads/version-cache.js';

export interface GatewayDeps {
  readonly images: ImageRepository;
  readonly objects: ObjectStore;
  readonly ingest: IngestClient;
  readonly reapQueue: ReapQueue;
  /** Rate-limit counters shared by every replica; per process when absent (tests). */
  readonly rateLimitRedis?: Redis;
  readonly metrics: GatewayMetrics;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The gateway as a fastify app that is not listening: `server.ts` listens, tests inject.
 * Every backend arrives through `deps`.
 */
export async function buildApp(config: GatewayConfig, deps: GatewayDeps): Promise<FastifyInstance> {
  // A hop count trusts that many proxies nearest to us, whatever their address.
  const trustProxy =
    typeof config.trustProxy === 'number' ? (_address: string, hop: number) => hop < (config.trustProxy as number) : config.trustProxy;
  const app = Fastify({
    logger: {
      ...loggerOptions('gateway', config.logLevel),
      serializers: {
        // The path only: a query string may carry what a client should not have sent there.
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
      },
    },
    // One access line per request (below, when the response is done) instead of fastify's
    // two: the profile of hot reads put logging at 10 % of the gateway's CPU.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Long keys must reach the handler (and get a JSON 404), not a bare 414 from the router.
    // (Node itself refuses request lines over its 16 KiB header limit.)
    routerOptions: { maxParamLength: 16_384 },
    // Small JSON bodies only (DELETE); uploads go through multipart, which has its own limits.
    bodyLimit: 16 * 1024,
    exposeHeadRoutes: false,
    // Slow clients are cut off with a 408 (headers within 15 s, a whole upload within 2
    // minutes by default), so trickling bytes cannot hold connections and upload memory.
    requestTimeout: config.timeouts.requestMs,
    connectionTimeout: config.timeouts.requestMs + 10_000,
    keepAliveTimeout: 72_000,
    // Node enforces both timeouts only when it checks its connections (every 30 s by default).
    http: { headersTimeout: config.timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, config.timeouts.headersMs) },
    // The client address (for rate limits) comes from X-Forwarded-For only behind these.
    trustProxy,
  });

  const { metrics } = deps;
  await app.register(errorHandlerPlugin, { onUploadRefused: (code) => metrics.uploadsRefused.inc({ reason: code }) });
  await app.register(multipart, { throwFileSizeLimit: true });

  await app.register(rateLimitPlugin, {
    uploadsPerMinute: config.rateLimits.uploadsPerMinute,
    keyFailuresPer10Minutes: config.rateLimits.keyFailuresPer10Minutes,
    redis: deps.rateLimitRedis,
    keyPrefix: config.queuePrefix,
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // While closing, every response ends its connection, so keep-alive clients let go and
  // `close()` does not wait on connections that went idle after it began.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });

  const budget = new ByteBudget(config.uploadMemoryBudgetBytes);
  const cache = new VersionCache(config.versionCacheBytes, config.versionCacheMaxItemBytes);
  const liveRecords = new FreshLookups((keys) => deps.images.findLiveMany(keys));
  metrics.readUploadMemoryFrom(() => budget.bytesInUse);
  app.get('/openapi.json', async () => openApiDocument);
  app.get('/', async () => ({ service: 'imagehost', upload: 'POST / (multipart/form-data, file part "image")', openapi: '/openapi.json' }));
  const uploads = {
    metrics,
    objects: deps.objects,
    ingest: deps.ingest,
    budget,
    maxUploadBytes: config.maxUploadBytes,
    ingestWaitMs: config.ingestWaitMs,
    publicBaseUrl: config.publicBaseUrl,
  };
  await app.register(async (scope) => {
    await uploadRoutes(scope, uploads);
  });
  await app.register(async (scope) => {
    await replaceRoutes(scope, { ...uploads, images: deps.images });
  });
  await app.register(async (scope) => {
    await deleteRoutes(scope, { images: deps.images, reapQueue: deps.reapQueue });
  });
  await app.register(async (scope) => {
    await viewRoutes(scope, { records: { findLive: (key) => liveRecords.get(key) }, objects: deps.objects, metrics, cache });
  });
  return app;
}
