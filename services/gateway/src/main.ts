import { loadGatewayConfig } from '@imagehost/config';
import { errorMessage } from '@imagehost/errors';
import { createIngestQueueEvents, enqueueReap } from '@imagehost/jobs';
import { createLogger, logDestination } from '@imagehost/logging';
import {
  connectBackends,
  createRegistry,
  exitOnSignalWhileStarting,
  mountQueueDashboard,
  observeRedisCall,
  registerQueueMetrics,
  shutDownGracefullyOnSignal,
  startOpsServer,
  startTracing,
  within,
} from '@imagehost/ops';
import { buildAdminApp } from './admin/admin-app.js';
import { imageReportsView } from './admin/reports.admin-route.js';
import { buildApp } from './app.js';
import { createGatewayMetrics } from './metrics.js';
import { IdempotentUploads } from './uploads/idempotent-uploads.js';
import { IngestClient } from './uploads/ingest-client.js';

// The gateway: the public HTTP API. Writes upload bytes to S3, produces `ingest` jobs and
// waits for their results, serves images from MongoDB metadata and S3 bytes, and marks
// images deleted (producing `reap` jobs).

async function main(): Promise<void> {
  startTracing('gateway');
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.logLevel);
  exitOnSignalWhileStarting(log);
  const registry = createRegistry('gateway');
  const metrics = createGatewayMetrics(registry);
  const events = createIngestQueueEvents({ redis: config.redis, prefix: config.queuePrefix });
  // The gateway listens whether or not its backends are there yet: until they are, it is not
  // ready and requests that need them get 503 at once, and it recovers without a restart.
  const backends = connectBackends(config, log, registry);
  const { images, reports, blocklist, objects, ingestQueue: queue, reapQueue, redis } = backends;
  const { observeRedisCall: observeRedis } = backends;
  const ingest = new IngestClient(queue, events, log, metrics, () => redis.status === 'ready', { enqueueDeadlineMs: config.redisDeadlineMs, observeRedisCall: observeRedis });
  const checks = backends.prepareInBackground(() => ingest.ready());

  registerQueueMetrics(registry, [queue, reapQueue]);
  const purges = {
    purgeImage: (imageKey: string, requestId: string) =>
      observeRedisCall(observeRedis, 'enqueue reap', within(config.redisDeadlineMs, enqueueReap(reapQueue, { target: 'image', imageKey, requestId }))),
  };
  const idempotentUploads = new IdempotentUploads(redis, {
    keyPrefix: config.queuePrefix,
    ttlMs: config.idempotencyTtlMs,
    // A POST's work once its body is read: the PutObject (and, refused, the removal), the
    // enqueue and the wait for ingest, with room to spare.
    claimMs: config.ingestWaitMs + 2 * config.s3.timeoutMs + 5_000,
    log,
    observeRedisCall: observeRedis,
  });
  const app = await buildApp(config, { images, reports, objects, blocklist, ingest, purges, idempotentUploads, rateLimitRedis: redis, observeRedisCall: observeRedis, metrics, clock: Date.now });

  const ops = await startOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    registry,
    log,
    checks,
    extend:
      config.queueDashboardCredentials === undefined
        ? undefined
        : (opsApp) => mountQueueDashboard(opsApp, [queue, reapQueue], config.queueDashboardCredentials ?? ''),
  });
  // The admin API listens on its own port (not the public one, not the ops port that monitoring
  // reaches), and only when a token is set.
  const admin =
    config.admin === undefined
      ? undefined
      : await buildAdminApp(
          { token: config.admin.token, logLevel: config.logLevel, logStream: logDestination() },
          {
            images,
            objects,
            blocklist,
            retentionMs: config.takedownRetentionMs,
            clock: Date.now,
            reportQueue: reports,
            reports: imageReportsView(reports),
            tookDown: (reason) => metrics.moderation.takedowns.inc({ reason }),
          },
        );
  if (admin !== undefined && config.admin !== undefined) await admin.listen({ host: config.admin.host, port: config.admin.port });
  await app.listen({ host: config.host, port: config.port });
  log.info({ port: config.port, opsPort: ops.port, adminPort: admin === undefined ? null : listeningPort(admin), queueDashboard: config.queueDashboardCredentials !== undefined }, 'ready');

  shutDownGracefullyOnSignal({
    log,
    ops,
    drainMs: config.shutdown.drainMs,
    timeoutMs: config.shutdown.timeoutMs,
    // Stops accepting connections and waits for the requests in flight (uploads included);
    // uploads still waiting for ingest answer 202 at once.
    stopIntake: async () => {
      ingest.stopWaiting();
      await Promise.all([app.close(), admin?.close()]);
    },
    closeConnections: async () => {
      await events.close().catch(() => undefined);
      await backends.close();
    },
  });
}

function listeningPort(server: { server: { address(): unknown } }): number | null {
  const address = server.server.address();
  return typeof address === 'object' && address !== null && 'port' in address ? Number(address.port) : null;
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway: ${errorMessage(error)}\n`);
  process.exit(1);
});
