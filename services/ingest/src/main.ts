import { loadIngestConfig } from '@imagehost/config';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import {
  INGEST_QUEUE,
  createIngestQueue,
  createReapQueue,
  createWorker,
  ingestJobSchema,
  parseJobData,
  toWorkerError,
  type IngestJobData,
  type IngestJobResult,
  connectRedisFailFast,
} from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { backendChecks, createJobMetrics, createRegistry, observeWorker, prepareInBackground, registerQueueMetrics, serveWorker } from '@imagehost/ops';
import { ObjectStore } from '@imagehost/storage';
import { restrictDecodersToJpegAndPng } from './decoders.js';
import { ingestImage, type IngestDeps } from './ingest-image.handler.js';

// The ingest worker: consumes `ingest` jobs (one per accepted upload or replacement),
// validates the bytes with sharp and records the image in MongoDB; produces `reap` jobs for
// refused, raced and superseded versions.

async function main(): Promise<void> {
  const config = loadIngestConfig();
  const log = createLogger('ingest', config.logLevel);
  restrictDecodersToJpegAndPng();

  const connection = connectDatabase(config.mongo);
  const images = new ImageRepository(connection);
  const objects = new ObjectStore(config.s3);
  const queueConnection = { redisUrl: config.redisUrl, prefix: config.queuePrefix };
  const ingestQueue = createIngestQueue(queueConnection);
  const reapQueue = createReapQueue(queueConnection);
  const redis = connectRedisFailFast(config.redisUrl);
  const startup = prepareInBackground(log, 'preparing the backends', () => Promise.all([images.prepare(), objects.ensureBucket()]));

  const deps: IngestDeps = {
    images,
    objects,
    reapQueue,
    limits: { maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels, maxImageSide: config.maxImageSide },
    supersededReapDelayMs: config.supersededReapDelayMs,
  };
  const worker = createWorker<IngestJobData, IngestJobResult, typeof INGEST_QUEUE>(
    INGEST_QUEUE,
    queueConnection,
    async (job) => {
      const started = performance.now();
      try {
        const image = await ingestImage(parseJobData(ingestJobSchema, job.data), deps);
        return { ...image, workMs: performance.now() - started };
      } catch (error) {
        throw toWorkerError(error);
      }
    },
    // A worker that dies mid-job (OOM kill, node loss) has the job redelivered; one that died
    // with the same job three times met a poison image, and the job fails for good.
    { concurrency: config.concurrency, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs, maxStalledCount: 2 },
  );

  const registry = createRegistry('ingest');
  registerQueueMetrics(registry, [ingestQueue, reapQueue]);
  observeWorker(worker, createJobMetrics(registry), log, (job) => ({ imageKey: job.data.imageKey, kind: job.data.kind }));
  await serveWorker({
    log,
    ops: config.ops,
    shutdownTimeoutMs: config.shutdown.timeoutMs,
    registry,
    checks: [...backendChecks({ redis, images, objects }), startup],
    worker,
    readyFields: { concurrency: config.concurrency, queue: INGEST_QUEUE },
    closeConnections: async () => {
      await Promise.allSettled([ingestQueue.close(), reapQueue.close(), connection.close()]);
      redis.disconnect();
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
