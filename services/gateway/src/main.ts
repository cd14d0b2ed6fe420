import { loadGatewayConfig } from '@imagehost/config';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { createIngestQueue, createIngestQueueEvents, createReapQueue } from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { buildApp } from './app.js';
import { IngestClient } from './ingest-client.js';

// The gateway: the public HTTP API. Writes upload bytes to S3, produces `ingest` jobs and
// waits for their results, and serves images from MongoDB metadata and S3 bytes.

const SHUTDOWN_TIMEOUT_MS = 25_000;

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
  const ingest = new IngestClient(queue, events, log);
  await Promise.all([images.prepare(), objects.ensureBucket(), ingest.ready()]);

  const app = await buildApp(config, { images, objects, ingest, reapQueue });
  await app.listen({ host: config.host, port: config.port });
  log.info({ port: config.port }, 'ready');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    void (async () => {
      await app.close();
      await Promise.allSettled([events.close(), queue.close(), reapQueue.close(), connection.close()]);
      log.info('stopped');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
