import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';

// Names follow Prometheus conventions: a `imagehost_` namespace, base units in the name,
// `_total` on counters, and labels of low cardinality only (never a key or an id).

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused', 'prioritized'] as const;

/** A registry with the Node.js process metrics and the service's name on every series. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Queue gauges read from Redis at scrape time: jobs per state, and the age of the oldest
 * waiting job (the backlog's delay as a user feels it). Every replica reports the same
 * numbers; dashboards take `max by (queue)`.
 */
export function registerQueueMetrics(registry: Registry, queues: readonly Queue[]): void {
  new Gauge({
    name: 'imagehost_queue_jobs',
    help: 'Jobs in the queue, by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      const counts = await Promise.all(queues.map(async (queue) => [queue.name, await queue.getJobCounts(...QUEUE_STATES)] as const));
      for (const [queue, byState] of counts) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'imagehost_queue_oldest_waiting_age_seconds',
    help: 'Age of the oldest job waiting to be processed (0 when none waits)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      const now = Date.now();
      for (const queue of queues) {
        const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
        this.set({ queue: queue.name }, oldest === undefined ? 0 : Math.max(0, (now - oldest.timestamp) / 1000));
      }
    },
  });
}

/** Job outcome counters and duration histograms, for the workers. */
export function createJobMetrics(registry: Registry) {
  return {
    jobs: new Counter({
      name: 'imagehost_jobs_total',
      help: 'Jobs finished, by queue and outcome (completed, failed: refused or out of retries, retried)',
      labelNames: ['queue', 'outcome'],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'imagehost_job_duration_seconds',
      help: 'Time a worker spent on a job attempt, by queue and outcome',
      labelNames: ['queue', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
export type JobMetrics = ReturnType<typeof createJobMetrics>;
