import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { GatewayConfig } from '@imagehost/config';
import { AppError } from '@imagehost/errors';
import type { BlocklistRepository, ImageRepository, ReportRepository } from '@imagehost/db';
import type { RedisClient } from '@imagehost/jobs';
import { logDestination, loggerOptions } from '@imagehost/logging';
import { nameRequestSpan, tracingActive, type BackendCallObserver } from '@imagehost/ops';
import type { GatewayMetrics } from './metrics.js';
import type { ObjectStore } from '@imagehost/storage';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { uploadsInProgressPlugin } from './plugins/uploads-in-progress.js';
import { openApiPlugin } from './plugins/openapi.js';
import { corsPlugin } from './plugins/cors.js';
import { methodNotAllowedPlugin } from './plugins/method-not-allowed.js';
import { AJV_OPTIONS, buildRequestValidator } from './plugins/validation.js';
import { frontDoorRoutes } from './routes/front-door.route.js';
import { errorHandlerPlugin, sendError } from './plugins/error-handler.js';
import { deleteRoutes, type PurgeQueue } from './routes/delete.route.js';
import { replaceRoutes } from './routes/replace.route.js';
import { reportRoutes } from './routes/report.route.js';
import { uploadRoutes } from './routes/upload.route.js';
import { viewRoutes } from './routes/view.route.js';
import { ByteBudget } from './uploads/byte-budget.js';
import type { IngestQueueClient } from './uploads/submit-version.js';
import type { IdempotentUploads } from './uploads/idempotent-uploads.js';
import { FreshLookups } from './reads/fresh-lookups.js';
import { VersionCache } from './reads/version-cache.js';
import { publicImages } from './reads/public-images.js';

/** Only what the gateway calls, so in-process tests can pass small fakes. */
export interface GatewayDeps {
  readonly images: Pick<ImageRepository, 'findLive' | 'findLiveMany' | 'markDeleted' | 'hide'>;
  readonly reports: Pick<ReportRepository, 'open' | 'countOpen'>;
  readonly objects: Pick<ObjectStore, 'putObject' | 'removeObject' | 'readObject' | 'openObject'>;
  /** Taken-down content, refused on upload. */
  readonly blocklist: Pick<BlocklistRepository, 'findCandidates'>;
  readonly ingest: IngestQueueClient;
  readonly purges: PurgeQueue;
  /** Answers of POSTs with an Idempotency-Key, shared by every replica; absent in-process (tests), where such POSTs get 503. */
  readonly idempotentUploads?: Pick<IdempotentUploads, 'assertAvailable' | 'run'>;
  /** Rate-limit counters shared by every replica; per process when absent (tests). */
  readonly rateLimitRedis?: RedisClient;
  /** Times the Redis calls of the rate limits (production: the backend call histogram). */
  readonly observeRedisCall?: BackendCallObserver | undefined;
  readonly metrics: GatewayMetrics;
  /** Milliseconds since the epoch (`Date.now` in production). */
  readonly clock: () => number;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** As long as nginx's `lingering_time`: past it, a refused client still sending is cut off. */
const LINGER_MAX_MS = 30_000;
/** An upload that claimed its announced length keeps the claim while it sends at least this. */
const CLAIM_MIN_BYTES_PER_SECOND = 128 * 1024;
/** What refused bodies may turn into garbage, all together, so a burst of them keeps memory flat. */
const LINGER_BYTES_PER_100_MS = 1024 * 1024;

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
      stream: logDestination(),
      serializers: {
        // The path only: a query string may carry what a client should not have sent there.
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
      },
    },
    // One access line per request (below, when the response is done) instead of fastify's
    // two, which cost hot reads noticeably (bench/decisions.md#one-access-line).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Long keys must reach the handler (and get a JSON 404), not a bare 414 from the router.
    // (Node itself refuses request lines over its 16 KiB header limit.)
    routerOptions: { maxParamLength: 16_384 },
    // The router refuses a path that does not percent-decode before any route runs. No image
    // key needs escaping, so such a path names no image: a 404 in the one error shape.
    frameworkErrors: (error, _request, reply) => {
      const namesNothing = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void sendError(reply, namesNothing ? new AppError('NOT_FOUND', 'no image has this path') : new AppError('BAD_REQUEST', error.message));
    },
    // Small JSON bodies only (DELETE); uploads go through multipart, which has its own limits.
    bodyLimit: 16 * 1024,
    // Route schemas validate params, headers and JSON bodies; a failure is refused with the
    // contract's code (plugins/validation.ts).
    schemaController: { compilersFactory: { buildValidator: buildRequestValidator() } },
    ajv: AJV_OPTIONS,
    exposeHeadRoutes: false,
    // Slow clients are cut off with a 408 (headers within 15 s, a whole upload within 2
    // minutes by default; a silent upload body sooner, in readImageUpload).
    requestTimeout: config.timeouts.requestMs,
    connectionTimeout: config.timeouts.requestMs + 10_000,
    keepAliveTimeout: 72_000,
    // Node enforces both timeouts only when it checks its connections (every 30 s by default).
    http: { headersTimeout: config.timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, config.timeouts.headersMs) },
    // The client address (for rate limits) comes from X-Forwarded-For only behind these.
    trustProxy,
  });

  const { metrics } = deps;
  await app.register(errorHandlerPlugin, {
    onUploadRefused: (code) => metrics.uploadsRefused.inc({ reason: code }),
    // A photo somewhat over the limit is read to its end so its sender sees the 413.
    linger: { maxBytes: 2 * config.maxUploadBytes, maxMs: LINGER_MAX_MS, idleMs: config.timeouts.uploadIdleMs, bytesPer100Ms: LINGER_BYTES_PER_100_MS },
  });
  await app.register(multipart, { throwFileSizeLimit: true });
  // Before every hook that can refuse, so refusals carry the CORS headers too.
  await app.register(corsPlugin, { writeOrigins: config.corsWriteOrigins, publicBaseUrl: config.publicBaseUrl });
  // Both before every route, to see them all (CORS's own OPTIONS route stays out of the document).
  await app.register(methodNotAllowedPlugin);
  await app.register(openApiPlugin);

  await app.register(rateLimitPlugin, {
    uploadsPerMinute: config.rateLimits.uploadsPerMinute,
    keyFailuresPer10Minutes: config.rateLimits.keyFailuresPer10Minutes,
    reportsPerHour: config.rateLimits.reportsPerHour,
    redis: deps.rateLimitRedis,
    keyPrefix: config.queuePrefix,
    observeRedisCall: deps.observeRedisCall,
  });
  await app.register(uploadsInProgressPlugin, { perClient: config.uploadsInProgressPerClient });
  // Only while tracing: an extra hook on every request costs the hot reads otherwise.
  if (tracingActive()) {
    app.addHook('onRequest', async (request) => {
      nameRequestSpan(request.method, request.routeOptions.url ?? 'unmatched');
    });
  }
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
  app.addHook('onSend', async (request, reply) => {
    // The id in every log line of the request and of the jobs it queued: one grep joins them.
    void reply.header('x-request-id', request.id);
    if (closing) void reply.header('connection', 'close');
  });

  const budget = new ByteBudget(config.uploadMemoryBudgetBytes, { minBytesPerSecond: CLAIM_MIN_BYTES_PER_SECOND, clock: () => performance.now() });
  const cache = new VersionCache(config.versionCacheBytes, config.versionCacheMaxItemBytes, metrics.versionCache.observer);
  metrics.versionCache.readBytesFrom(() => cache.bytesHeld);
  const liveRecords = new FreshLookups((keys) => deps.images.findLiveMany(keys));
  // Expired and hidden images are gone for every public route.
  const visible = publicImages({ findLive: (key) => liveRecords.get(key) }, deps.clock);
  const visibleForWrites = publicImages(deps.images, deps.clock);
  metrics.readUploadMemoryFrom(budget);
  await app.register(async (scope) => {
    await frontDoorRoutes(scope, { maxUploadBytes: config.maxUploadBytes, publicBaseUrl: config.publicBaseUrl, lifetime: config.lifetime });
  });
  const uploads = {
    metrics,
    objects: deps.objects,
    ingest: deps.ingest,
    blocklist: deps.blocklist,
    budget,
    maxUploadBytes: config.maxUploadBytes,
    uploadIdleTimeoutMs: config.timeouts.uploadIdleMs,
    ingestWaitMs: config.ingestWaitMs,
    publicBaseUrl: config.publicBaseUrl,
    stripMetadata: config.stripMetadata,
    clock: deps.clock,
    lifetime: config.lifetime,
  };
  await app.register(async (scope) => {
    await uploadRoutes(scope, { ...uploads, idempotentUploads: deps.idempotentUploads });
  });
  await app.register(async (scope) => {
    await replaceRoutes(scope, { ...uploads, images: visibleForWrites });
  });
  await app.register(async (scope) => {
    await deleteRoutes(scope, { images: { ...visibleForWrites, markDeleted: (...args) => deps.images.markDeleted(...args) }, purges: deps.purges, clock: deps.clock });
  });
  await app.register(async (scope) => {
    await viewRoutes(scope, { records: visible, objects: deps.objects, metrics, cache });
  });
  await app.register(async (scope) => {
    await reportRoutes(scope, {
      images: visible,
      reports: deps.reports,
      hide: (imageKey, at) => deps.images.hide(imageKey, at),
      hideThreshold: config.reportHideThreshold,
      clock: deps.clock,
      reported: (reason) => metrics.moderation.reportsReceived.inc({ reason }),
    });
  });
  return app;
}
