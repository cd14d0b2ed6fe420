import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Job, Queue } from 'bullmq';
import { recordCall } from './tracing.js';
import { within } from './within.js';

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

/** The queues as the gauges read them. */
export type ObservedQueue = Pick<Queue, 'name' | 'getJobCounts' | 'getJobs' | 'isPaused'>;

/** How many of the next waiting jobs the age gauge looks at. */
const WAITING_JOBS_AGED = 20;

/**
 * Seconds since the longest-waiting of these jobs became waiting: its creation plus the delay
 * it was added with (BullMQ keeps that in its options; its own `delay` reads 0 once promoted).
 * Retried jobs are left out: BullMQ does not record when a retry's backoff ended, and counting
 * from creation would make a job back from hours of backoff look stuck.
 */
export function oldestWaitingAgeSeconds(jobs: readonly Pick<Job, 'timestamp' | 'opts' | 'attemptsMade'>[], now: number): number {
  let oldest = 0;
  for (const job of jobs) {
    if (job.attemptsMade > 0) continue;
    oldest = Math.max(oldest, (now - job.timestamp - (job.opts.delay ?? 0)) / 1000);
  }
  return oldest;
}

interface QueueSnapshot {
  readonly counts: Record<string, number>;
  readonly oldestWaitingAgeSeconds: number;
  readonly paused: boolean;
}

/**
 * Queue gauges read from Redis at scrape time: jobs per state, and the age of the oldest
 * waiting job (the backlog's delay as a user feels it). Every replica reports the same
 * numbers; dashboards take `max by (queue)`. Redis is asked within `readTimeoutMs`: when it
 * does not answer, these series are dropped and their last-success time stops moving, while the
 * rest of the scrape (HTTP, jobs, process) still answers — an outage must not blank /metrics.
 */
export function registerQueueMetrics(
  registry: Registry,
  queues: readonly ObservedQueue[],
  options: {
    readTimeoutMs?: number;
    /** Milliseconds since the epoch, as BullMQ stamps jobs (injected by tests). */
    clock?: () => number;
  } = {},
): void {
  const readTimeoutMs = options.readTimeoutMs ?? 1000;
  const clock = options.clock ?? Date.now;
  // One read of Redis per scrape, shared by the gauges.
  let reading: Promise<Map<string, QueueSnapshot> | undefined> | undefined;
  const snapshot = () => {
    reading ??= within(
      readTimeoutMs,
      Promise.all(
        queues.map(async (queue) => {
          const [counts, next, paused] = await Promise.all([
            queue.getJobCounts(...QUEUE_STATES),
            queue.getJobs(['waiting'], 0, WAITING_JOBS_AGED - 1, true),
            queue.isPaused(),
          ]);
          return [queue.name, { counts, oldestWaitingAgeSeconds: oldestWaitingAgeSeconds(next, clock()), paused }] as const;
        }),
      ),
    )
      .then((entries) => new Map(entries))
      .catch(() => undefined);
    const current = reading;
    // prom-client starts every collector of a scrape in one synchronous pass; the next scrape reads anew.
    queueMicrotask(() => (reading = undefined));
    return current;
  };

  new Gauge({
    name: 'imagehost_queue_metrics_last_success_timestamp_seconds',
    help: 'When the queue gauges were last read from Redis (Unix seconds); stale while Redis does not answer',
    registers: [registry],
    async collect() {
      if ((await snapshot()) !== undefined) this.set(clock() / 1000);
    },
  });
  new Gauge({
    name: 'imagehost_queue_jobs',
    help: 'Jobs in the queue, by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      const read = await snapshot();
      this.reset();
      for (const [queue, { counts }] of read ?? []) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'imagehost_queue_oldest_waiting_age_seconds',
    help: 'Age of the oldest job waiting to be processed (0 when none waits)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      const read = await snapshot();
      this.reset();
      for (const [queue, { oldestWaitingAgeSeconds }] of read ?? []) this.set({ queue }, oldestWaitingAgeSeconds);
    },
  });
  new Gauge({
    // A paused queue holds new jobs in state `paused` but shows nothing while empty: this says so at once.
    name: 'imagehost_queue_paused',
    help: 'Whether the queue is paused (1): workers take none of its jobs until it is resumed',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      const read = await snapshot();
      this.reset();
      for (const [queue, { paused }] of read ?? []) this.set({ queue }, paused ? 1 : 0);
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
    jobWait: new Histogram({
      name: 'imagehost_job_wait_seconds',
      help: 'Time from when a job became waiting (its creation plus any delay it was added with) to the start of its first attempt',
      labelNames: ['queue'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    stalled: new Counter({
      name: 'imagehost_jobs_stalled_total',
      help: 'Jobs whose worker stopped renewing their lock (died or hung), found by this worker',
      labelNames: ['queue'],
      registers: [registry],
    }),
    activeJobs: new Gauge({
      name: 'imagehost_worker_active_jobs',
      help: 'Jobs this worker is running now; saturation is this over imagehost_worker_concurrency',
      labelNames: ['queue'],
      registers: [registry],
    }),
    concurrency: new Gauge({
      name: 'imagehost_worker_concurrency',
      help: 'How many jobs this worker runs at once at most',
      labelNames: ['queue'],
      registers: [registry],
    }),
  };
}
export type JobMetrics = ReturnType<typeof createJobMetrics>;

/**
 * Latency and outcome of every MongoDB and S3 call, and of the Redis calls a request waits
 * on, by operation (`find`, `PutObject`, `enqueue ingest`…): `unavailable` counts outages and
 * deadlines passed, `error` refusals such as a duplicate key.
 */
export function createBackendCallMetrics(registry: Registry) {
  const calls = new Histogram({
    name: 'imagehost_backend_call_duration_seconds',
    help: 'Duration of calls to MongoDB, S3 and (on a request) Redis, by backend, operation and outcome (ok, error, unavailable)',
    labelNames: ['backend', 'operation', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [registry],
  });
  const observer =
    (backend: 'mongodb' | 's3' | 'redis') =>
    (operation: string, outcome: 'ok' | 'error' | 'unavailable', seconds: number): void => {
      calls.observe({ backend, operation, outcome }, seconds);
      recordCall(backend, operation, outcome, seconds);
    };
  return { mongodb: observer('mongodb'), s3: observer('s3'), redis: observer('redis') };
}


/** How a call to a backend ended and how long it took (the metrics and tracing observers). */
export type BackendCallObserver = (operation: string, outcome: 'ok' | 'error' | 'unavailable', seconds: number) => void;

/**
 * Times a Redis call a request waits on: any failure of a short command there (refused,
 * deadline passed) is an outage to the request.
 */
export async function observeRedisCall<T>(observe: BackendCallObserver | undefined, operation: string, call: Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await call;
    observe?.(operation, 'ok', (performance.now() - started) / 1000);
    return result;
  } catch (error) {
    observe?.(operation, 'unavailable', (performance.now() - started) / 1000);
    throw error;
  }
}
