import { Counter, Gauge, type Registry } from 'prom-client';

/** What the reaper measures. */
export function createReaperMetrics(registry: Registry) {
  const sweepLastSuccess = new Gauge({
    name: 'imagehost_sweep_last_success_timestamp_seconds',
    help: 'When this reaper last completed a sweep (Unix seconds; 0 before its first). One reaper sweeps at a time: take the max over replicas',
    registers: [registry],
  });
  const sweepDuration = new Gauge({
    name: 'imagehost_sweep_duration_seconds',
    help: "How long this reaper's last completed sweep took",
    registers: [registry],
  });
  return {
    /** Records a sweep that ran to its end, `seconds` long. */
    sweepCompleted(seconds: number): void {
      sweepLastSuccess.set(Date.now() / 1000);
      sweepDuration.set(seconds);
    },
    imagesPurged: new Counter({ name: 'imagehost_images_purged_total', help: 'Deleted images purged for good (record removed)', registers: [registry] }),
    imagesExpired: new Counter({ name: 'imagehost_images_expired_total', help: 'Images the expiry purge found past their expiry and purged', registers: [registry] }),
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
