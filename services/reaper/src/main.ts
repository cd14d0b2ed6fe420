import { loadReaperConfig } from '@imagehost/config';
import { errorMessage } from '@imagehost/errors';
import {
  REAP_QUEUE,
  EXPIRY_SCHEDULER_ID,
  SWEEP_SCHEDULER_ID,
  createWorker,
  parseJobData,
  reapJobSchema,
  toWorkerError,
  type ReapJobData,
  type ReapJobName,
  type ReapJobResult,
} from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { connectBackends, createRegistry, exitOnSignalWhileStarting, serveWorker, startTracing } from '@imagehost/ops';
import { createReaperMetrics } from './metrics.js';
import { reap, type ReapDeps } from './reap.handler.js';
import { sweepLock } from './sweep-lock.js';

// The reaper: consumes `reap` jobs and permanently removes what they name — objects of
// refused or replaced versions, deleted images (bytes, then record) — and runs the periodic
// sweep for whatever lost jobs left behind.

// A periodic scan is never retried: the next one comes within its interval.
const SWEEP_JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 100, attempts: 1 };

async function main(): Promise<void> {
  startTracing('reaper');
  const config = loadReaperConfig();
  const log = createLogger('reaper', config.logLevel);
  exitOnSignalWhileStarting(log);
  const registry = createRegistry('reaper');
  const backends = connectBackends(config, log, registry);
  const { images, objects, queueConnection, ingestQueue, reapQueue, redis } = backends;

  // One schedule whatever the number of replicas: upserting the same id is idempotent. It is
  // upserted again every minute, so a Redis that lost its data gets its schedule back.
  const scheduleSweeps = () =>
    Promise.all([
      reapQueue.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: config.sweepIntervalMs }, { name: 'sweep', data: { target: 'sweep' }, opts: SWEEP_JOB_OPTIONS }),
      reapQueue.upsertJobScheduler(EXPIRY_SCHEDULER_ID, { every: config.expirySweepIntervalMs }, { name: 'expire', data: { target: 'expire' }, opts: SWEEP_JOB_OPTIONS }),
    ]);
  const renewSchedule = () => {
    scheduleSweeps().catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'could not renew the sweep schedule'));
  };
  renewSchedule();
  const reschedule = setInterval(renewSchedule, Math.min(config.sweepIntervalMs, 60_000));
  reschedule.unref();

  const reaperMetrics = createReaperMetrics(registry);
  reaperMetrics.reportQueue.readReportsFrom({ openStats: () => backends.reports.openStats(), now: Date.now });
  const deps: ReapDeps = {
    images,
    objects,
    ingestQueue,
    graceMs: config.sweepGraceMs,
    log,
    // Renewed while a sweep runs: the TTL only bounds how long a dead reaper blocks the next sweep.
    exclusively: sweepLock(redis, `${config.queuePrefix}:reaper:sweep-lock`, { ttlMs: 30_000 }),
    expiryExclusively: sweepLock(redis, `${config.queuePrefix}:reaper:expiry-lock`, { ttlMs: 30_000 }),
    sweepCompleted: (seconds) => reaperMetrics.sweepCompleted(seconds),
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
    reaperMetrics.objectsRemoved.inc({ target: job.data.target }, result.removedObjects);
    reaperMetrics.imagesPurged.inc(result.removedRecords);
    reaperMetrics.uploadsReingested.inc(result.reingested ?? 0);
    reaperMetrics.imagesExpired.inc(result.expired ?? 0);
  });
  await serveWorker({
    log, config, registry, backends, worker,
    describeJob: (job) => ({ target: job.data.target, requestId: 'requestId' in job.data ? job.data.requestId : undefined }),
    readyFields: { concurrency: config.concurrency, queue: REAP_QUEUE, sweepIntervalMs: config.sweepIntervalMs, expirySweepIntervalMs: config.expirySweepIntervalMs },
    beforeClose: () => clearInterval(reschedule),
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`reaper: ${errorMessage(error)}\n`);
  process.exit(1);
});
