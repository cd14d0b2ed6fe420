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

/** What the gateway measures: requests, bytes in and out, refusals, memory held by uploads. */
export function createGatewayMetrics(registry: Registry) {
  let uploadMemoryInUse = (): number => 0;
  return {
    /** Where the upload-memory gauge reads its value at scrape time. */
    readUploadMemoryFrom(source: () => number): void {
      uploadMemoryInUse = source;
    },
    httpDuration: new Histogram({
      name: 'imagehost_http_request_duration_seconds',
      help: 'HTTP request duration, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ingestHop: new Histogram({
      name: 'imagehost_ingest_queue_hop_seconds',
      help: "The gateway's wait for an ingest result minus the worker's time on it: the cost of the queue",
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    uploadedBytes: new Counter({ name: 'imagehost_uploaded_bytes_total', help: 'Bytes of accepted image uploads', registers: [registry] }),
    servedBytes: new Counter({ name: 'imagehost_served_bytes_total', help: 'Bytes of image bodies sent', registers: [registry] }),
    uploadsRefused: new Counter({
      name: 'imagehost_uploads_refused_total',
      help: 'POST and PATCH requests refused, by error code',
      labelNames: ['reason'],
      registers: [registry],
    }),
    uploadMemory: new Gauge({
      name: 'imagehost_upload_memory_bytes',
      help: 'Upload bytes held in memory right now',
      registers: [registry],
      collect() {
        this.set(uploadMemoryInUse());
      },
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** What the reaper measures. */
export function createReaperMetrics(registry: Registry) {
  return {
    imagesPurged: new Counter({ name: 'imagehost_images_purged_total', help: 'Deleted images purged for good (record removed)', registers: [registry] }),
    objectsRemoved: new Counter({
      name: 'imagehost_objects_removed_total',
      help: 'Objects removed from S3, by what asked for it',
      labelNames: ['target'],
      registers: [registry],
    }),
    uploadsReingested: new Counter({
      name: 'imagehost_uploads_reingested_total',
      help: 'Uploads whose ingest job was lost (Redis data loss, retries exhausted) and that the sweep enqueued again',
      registers: [registry],
    }),
  };
}
