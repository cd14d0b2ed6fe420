import { Counter, Gauge, type Registry } from 'prom-client';
import type { OpenReportStats } from '@imagehost/db';

/** Where the moderation queue's gauges read their figures at scrape time, and the clock for the age. */
export interface ReportQueueSource {
  readonly openStats: () => Promise<OpenReportStats>;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/**
 * The moderation queue's gauges, computed from MongoDB when scraped. In the reaper, not the
 * gateway: the reaper runs one or two replicas, each reporting the same figures (alerts take
 * `max`), where every one of many gateway replicas would query MongoDB on each scrape.
 */
function createReportQueueMetrics(registry: Registry) {
  let source: ReportQueueSource | undefined;
  let figures: Promise<OpenReportStats | undefined> | undefined;
  // Both gauges of one scrape share one reading.
  const read = () => {
    figures ??= (source?.openStats() ?? Promise.resolve(undefined)).catch(() => undefined).finally(() => setImmediate(() => (figures = undefined)));
    return figures;
  };
  new Gauge({
    name: 'imagehost_reports_open',
    help: 'Abuse reports waiting for an operator (absent while MongoDB does not answer). The same on every reaper: take max',
    registers: [registry],
    async collect() {
      const stats = await read();
      if (stats === undefined) this.reset();
      else this.set(stats.open);
    },
  });
  new Gauge({
    name: 'imagehost_reports_oldest_open_age_seconds',
    help: 'How long the oldest open abuse report has waited (0 when none is open). The same on every reaper: take max',
    registers: [registry],
    async collect() {
      const stats = await read();
      if (stats === undefined) this.reset();
      else this.set(stats.oldestCreatedAt === undefined ? 0 : Math.max(0, ((source?.now() ?? 0) - stats.oldestCreatedAt.getTime()) / 1000));
    },
  });
  return {
    /** Where the gauges read from (until then they are absent). */
    readReportsFrom(from: ReportQueueSource): void {
      source = from;
    },
  };
}

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
    reportQueue: createReportQueueMetrics(registry),
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
