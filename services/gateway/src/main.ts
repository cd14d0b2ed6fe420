import { loadGatewayConfig } from '@imagehost/config';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { createIngestQueue, createIngestQueueEvents, createReapQueue, connectRedisFailFast } from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import {
  createGatewayMetrics,
  createRegistry,
  mountQueueDashboard,
  prepareInBackground,
  registerQueueMetrics,
  shutDownGracefullyOnSignal,
  startOpsServer,
  backendChecks,
} from '@imagehost/ops';
import { ObjectStore } from '@imagehost/storage';
import { buildApp } from './app.js';
import { IngestClient } from './ingest-client.js';
import { RateLimiter } from './plugins/rate-limit.js';

// The gateway: the public HTTP API. Writes upload bytes to S3, produces `ingest` jobs and
// waits for their results, serves images from MongoDB metadata and S3 bytes, and marks
// images deleted (producing `reap` jobs).

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.logLevel);
  const connection = connectDatabase(config.mongo);
  const images = new ImageRepository(connection);
  const objects = new ObjectStore(config.s3);
  const queueConnection = { redisUrl: config.redisUrl, prefix: config.queuePrefix };
  const queue = createIngestQueue(queueConnection);
  const events = createIngestQueueEvents(queueConnection);
  const reapQueue = createReapQueue(queueConnection);
  const redis = connectRedisFailFast(config.redisUrl);
  const registry = createRegistry('gateway');
  const metrics = createGatewayMetrics(registry);
  const ingest = new IngestClient(queue, events, log, metrics, () => redis.status === 'ready');
  // The gateway listens whether or not its backends are there yet: until they are, it is not
  // ready and requests that need them get 503 at once, and it recovers without a restart.
  const startup = prepareInBackground(log, 'preparing the backends', () => Promise.all([images.prepare(), objects.ensureBucket(), ingest.ready()]));

  registerQueueMetrics(registry, [queue, reapQueue]);
  const rateLimiter = new RateLimiter(redis, config.queuePrefix, log);
  const app = await buildApp(config, { images, objects, ingest, reapQueue, rateLimiter, metrics });

  const ops = await startOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    registry,
    log,
    checks: [...backendChecks({ redis, images, objects }), startup],
    extend:
      config.queueDashboardCredentials === undefined
        ? undefined
        : (opsApp) => mountQueueDashboard(opsApp, [queue, reapQueue], config.queueDashboardCredentials ?? ''),
  });
  await app.listen({ host: config.host, port: config.port });
  log.info({ port: config.port, opsPort: ops.port, queueDashboard: config.queueDashboardCredentials !== undefined }, 'ready');

  shutDownGracefullyOnSignal({
    log,
    ops,
    drainMs: config.shutdown.drainMs,
    timeoutMs: config.shutdown.timeoutMs,
    // Stops accepting connections and waits for the requests in flight (uploads included);
    // uploads still waiting for ingest answer 202 at once.
    stopIntake: async () => {
      ingest.stopWaiting();
      await app.close();
    },
    closeConnections: async () => {
      await Promise.allSettled([events.close(), queue.close(), reapQueue.close(), connection.close()]);
      redis.disconnect();
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
