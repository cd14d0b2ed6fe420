import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createModerationMetrics } from '@imagehost/ops';
import type { VersionCacheObserver } from './reads/version-cache.js';
import type { ByteBudget } from './uploads/byte-budget.js';

/** The version cache's hits and misses, what enters and leaves it, and the bytes it holds. */
function createVersionCacheMetrics(registry: Registry) {
  let bytesHeld = (): number => 0;
  const requests = new Counter({
    name: 'imagehost_version_cache_requests_total',
    help: 'Reads of versions small enough to cache, by whether the cache held them (hit, miss)',
    labelNames: ['result'],
    registers: [registry],
  });
  const admissions = new Counter({ name: 'imagehost_version_cache_admissions_total', help: 'Versions that entered the version cache', registers: [registry] });
  const evictions = new Counter({
    name: 'imagehost_version_cache_evictions_total',
    help: 'Versions pushed out of the version cache to make room for another',
    registers: [registry],
  });
  new Gauge({
    name: 'imagehost_version_cache_bytes',
    help: 'Bytes of image versions held by the version cache (at most VERSION_CACHE_BYTES)',
    registers: [registry],
    collect() {
      this.set(bytesHeld());
    },
  });
  const observer: VersionCacheObserver = {
    lookedUp: (result) => requests.inc({ result }),
    admitted: () => admissions.inc(),
    evicted: () => evictions.inc(),
  };
  return {
    observer,
    /** Where the bytes gauge reads its value at scrape time. */
    readBytesFrom(source: () => number): void {
      bytesHeld = source;
    },
  };
}

/** What the gateway measures: requests, bytes in and out, refusals, memory held by uploads, the version cache. */
export function createGatewayMetrics(registry: Registry) {
  let uploadMemory: Pick<ByteBudget, 'bytesInUse' | 'capacity'> = { bytesInUse: 0, capacity: 0 };
  return {
    /** Where the upload-memory gauges read their values at scrape time. */
    readUploadMemoryFrom(budget: Pick<ByteBudget, 'bytesInUse' | 'capacity'>): void {
      uploadMemory = budget;
    },
    versionCache: createVersionCacheMetrics(registry),
    /** Reports received here; takedowns and blocklist refusals for the admin API and the uploads. */
    moderation: createModerationMetrics(registry),
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
        this.set(uploadMemory.bytesInUse);
      },
    }),
    uploadMemoryLimit: new Gauge({
      name: 'imagehost_upload_memory_limit_bytes',
      help: 'Upload bytes the gateway may hold in memory at once (UPLOAD_MEMORY_BUDGET_BYTES); past it, uploads answer 503',
      registers: [registry],
      collect() {
        this.set(uploadMemory.capacity);
      },
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
