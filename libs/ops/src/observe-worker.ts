import type { Job, Worker } from 'bullmq';
import type { Logger } from '@imagehost/logging';
import type { JobMetrics } from './metrics.js';

function durationSeconds(job: { processedOn?: number | undefined }): number {
  return job.processedOn === undefined ? 0 : (Date.now() - job.processedOn) / 1000;
}

/**
 * Counts and times every job attempt of `worker`, and logs it with its job id: `completed`,
 * `failed` (refused, or out of retries), or `retried` (an outage; it will run again).
 */
export function observeWorker<Data, Result, Name extends string>(
  worker: Worker<Data, Result, Name>,
  metrics: JobMetrics,
  log: Logger,
  describe: (job: Job<Data, Result, Name>) => Record<string, unknown>,
): void {
  const queue = worker.name;
  metrics.concurrency.set({ queue }, worker.concurrency);
  // Jobs this worker runs: a job failed by another worker's stall check is none of ours.
  const running = new Set<string | undefined>();
  const ended = (job: Job<Data, Result, Name>) => {
    running.delete(job.id);
    metrics.activeJobs.set({ queue }, running.size);
  };
  metrics.activeJobs.set({ queue }, 0);
  worker.on('active', (job: Job<Data, Result, Name>) => {
    running.add(job.id);
    metrics.activeJobs.set({ queue }, running.size);
    if (job.attemptsMade === 0 && job.processedOn !== undefined) {
      metrics.jobWait.observe({ queue }, Math.max(0, job.processedOn - job.timestamp - (job.opts.delay ?? 0)) / 1000);
    }
  });
  worker.on('stalled', (jobId: string) => {
    metrics.stalled.inc({ queue });
    log.warn({ jobId }, `${queue} job stalled: its worker stopped renewing the lock`);
  });
  worker.on('completed', (job: Job<Data, Result, Name>) => {
    ended(job);
    metrics.jobs.inc({ queue, outcome: 'completed' });
    metrics.jobDuration.observe({ queue, outcome: 'completed' }, durationSeconds(job));
    log.info({ jobId: job.id, ...describe(job), ms: Date.now() - job.timestamp }, `${queue} job completed`);
  });
  worker.on('failed', (job: Job<Data, Result, Name> | undefined, error: Error) => {
    if (job === undefined) return;
    ended(job);
    const final = job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1);
    const outcome = final ? 'failed' : 'retried';
    metrics.jobs.inc({ queue, outcome });
    metrics.jobDuration.observe({ queue, outcome }, durationSeconds(job));
    log.warn({ jobId: job.id, ...describe(job), attempt: job.attemptsMade, outcome, err: error.message }, `${queue} job ${outcome}`);
  });
  worker.on('error', (error: Error) => {
    log.error({ err: error.message }, `${queue} worker error`);
  });
}
