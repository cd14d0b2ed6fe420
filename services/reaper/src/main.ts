import { loadReaperConfig } from '@imagehost/config';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import {
  REAP_QUEUE,
  SWEEP_SCHEDULER_ID,
  createIngestQueue,
  createReapQueue,
  createWorker,
  parseJobData,
  reapJobSchema,
  toWorkerError,
  type ReapJobData,
  type ReapJobName,
  type ReapJobResult,
} from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { Redis } from 'ioredis';
import { reap, type ReapDeps } from './reap.handler.js';
import { sweepLock } from './sweep-lock.js';

// The reaper: consumes `reap` jobs and permanently removes what they name — objects of
// refused or replaced versions, deleted images (bytes, then record) — and runs the periodic
// sweep for whatever lost jobs left behind.

const SHUTDOWN_TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const config = loadReaperConfig();
  const log = createLogger('reaper', config.logLevel);
  const connection = connectDatabase(config.mongo);
  const images = new ImageRepository(connection);
  const objects = new ObjectStore(config.s3);
  const queueConnection = { redisUrl: config.redisUrl, prefix: config.queuePrefix };
  const ingestQueue = createIngestQueue(queueConnection);
  const reapQueue = createReapQueue(queueConnection);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3 });
  await Promise.all([images.prepare(), objects.ensureBucket()]);

  // One schedule whatever the number of replicas: upserting the same id is idempotent.
  await reapQueue.upsertJobScheduler(
    SWEEP_SCHEDULER_ID,
    { every: config.sweepIntervalMs },
    { name: 'sweep', data: { target: 'sweep' }, opts: { removeOnComplete: true, removeOnFail: 100, attempts: 1 } },
  );

  const deps: ReapDeps = {
    images,
    objects,
    ingestQueue,
    graceMs: config.sweepGraceMs,
    log,
    exclusively: sweepLock(redis, `${config.queuePrefix}:reaper:sweep-lock`, Math.max(config.sweepIntervalMs, 60_000) * 2),
  };
  const worker = createWorker<ReapJobData, ReapJobResult, ReapJobName>(
    REAP_QUEUE,
    queueConnection,
    async (job) => {
      try {
        return await reap(parseJobData(reapJobSchema, job.data), deps);
      } catch (error) {
        throw toWorkerError(error);
      }
    },
    { concurrency: config.concurrency, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs },
  );
  worker.on('completed', (job, result) => {
    log.info({ jobId: job.id, target: job.data.target, ...result }, 'reaped');
  });
  worker.on('failed', (job, error) => {
    log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'reap failed');
  });
  worker.on('error', (error) => {
    log.error({ err: error.message }, 'worker error');
  });
  await worker.waitUntilReady();
  log.info({ concurrency: config.concurrency, queue: REAP_QUEUE, sweepIntervalMs: config.sweepIntervalMs }, 'ready');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: finishing jobs in flight');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    void (async () => {
      await worker.close();
      await Promise.allSettled([ingestQueue.close(), reapQueue.close(), connection.close()]);
      redis.disconnect();
      log.info('stopped');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`reaper: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
