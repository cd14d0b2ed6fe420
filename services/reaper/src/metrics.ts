import { Counter, type Registry } from 'prom-client';

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
