import { loadIngestConfig } from '@imagehost/config';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import {
  INGEST_QUEUE,
  createReapQueue,
  createWorker,
  ingestJobSchema,
  parseJobData,
  toWorkerError,
  type IngestJobData,
  type IngestJobResult,
} from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { restrictDecodersToJpegAndPng } from './decoders.js';
import { ingestImage, type IngestDeps } from './ingest-image.handler.js';

// The ingest worker: consumes `ingest` jobs (one per accepted upload), validates the bytes
// with sharp and records the image in MongoDB; produces `reap` jobs for refused uploads.

const SHUTDOWN_TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const config = loadIngestConfig();
  const log = createLogger('ingest', config.logLevel);
  restrictDecodersToJpegAndPng();

  const connection = connectDatabase(config.mongo);
  const images = new ImageRepository(connection);
  const objects = new ObjectStore(config.s3);
  const queueConnection = { redisUrl: config.redisUrl, prefix: config.queuePrefix };
  const reapQueue = createReapQueue(queueConnection);
  await images.prepare();
  await objects.ensureBucket();

  const deps: IngestDeps = {
    images,
    objects,
    reapQueue,
    limits: { maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels },
    supersededReapDelayMs: config.supersededReapDelayMs,
  };
  const worker = createWorker<IngestJobData, IngestJobResult, typeof INGEST_QUEUE>(
    INGEST_QUEUE,
    queueConnection,
    async (job) => {
      try {
        return await ingestImage(parseJobData(ingestJobSchema, job.data), deps);
      } catch (error) {
        throw toWorkerError(error);
      }
    },
    { concurrency: config.concurrency, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs },
  );
  worker.on('completed', (job) => {
    log.info({ jobId: job.id, imageKey: job.data.imageKey, ms: Date.now() - job.timestamp }, 'image ingested');
  });
  worker.on('failed', (job, error) => {
    log.warn({ jobId: job?.id, imageKey: job?.data.imageKey, attempt: job?.attemptsMade, err: error.message }, 'ingest failed');
  });
  worker.on('error', (error) => {
    log.error({ err: error.message }, 'worker error');
  });
  await worker.waitUntilReady();
  log.info({ concurrency: config.concurrency, queue: INGEST_QUEUE }, 'ready');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: finishing jobs in flight');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    void (async () => {
      await worker.close();
      await reapQueue.close();
      await connection.close();
      log.info('stopped');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
