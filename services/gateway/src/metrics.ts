import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
