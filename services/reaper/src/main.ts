import { loadReaperConfig } from '@imagehost/config';
import { REAP_QUEUE, createWorker, parseJobData, reapJobSchema, toWorkerError, type ReapJobData, type ReapJobResult } from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { reap } from './reap.handler.js';

// The reaper: consumes `reap` jobs and permanently removes what they name from S3.

const SHUTDOWN_TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const config = loadReaperConfig();
  const log = createLogger('reaper', config.logLevel);
  const objects = new ObjectStore(config.s3);
  await objects.ensureBucket();

  const worker = createWorker<ReapJobData, ReapJobResult, typeof REAP_QUEUE>(
    REAP_QUEUE,
    { redisUrl: config.redisUrl, prefix: config.queuePrefix },
    async (job) => {
      try {
        return await reap(parseJobData(reapJobSchema, job.data), { objects });
      } catch (error) {
        throw toWorkerError(error);
      }
    },
    { concurrency: config.concurrency },
  );
  worker.on('completed', (job, result) => {
    log.info({ jobId: job.id, target: job.data.target, removedObjects: result.removedObjects }, 'reaped');
  });
  worker.on('failed', (job, error) => {
    log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'reap failed');
  });
  worker.on('error', (error) => {
    log.error({ err: error.message }, 'worker error');
  });
  await worker.waitUntilReady();
  log.info({ concurrency: config.concurrency, queue: REAP_QUEUE }, 'ready');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: finishing jobs in flight');
    const forceExit = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
    forceExit.unref();
    void worker.close().then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`reaper: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
