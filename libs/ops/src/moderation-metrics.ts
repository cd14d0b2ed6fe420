import { Counter, type Registry } from 'prom-client';

/**
 * The moderation counters, for whichever service does the work: reports received (the public
 * route), takedowns by reason (the admin API), uploads refused by the content blocklist. Each
 * is a plain counter per process: sum over replicas with `sum(rate(...))`.
 */
export function createModerationMetrics(registry: Registry) {
  return {
    reportsReceived: new Counter({
      name: 'imagehost_reports_received_total',
      help: 'Abuse reports stored (a repeat from a client whose report is still open is not counted), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    /** `takedowns.inc({ reason })` with the takedown's reason (legal, copyright, abuse, csam, other). */
    takedowns: new Counter({
      name: 'imagehost_takedowns_total',
      help: 'Images taken down by an operator, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    /** `blocklistRefusals.inc({ match })` with how the bytes matched: `exact` (SHA-256) or `perceptual`. */
    blocklistRefusals: new Counter({
      name: 'imagehost_blocklist_refusals_total',
      help: 'Uploads and replacements refused (451) because their content is on the blocklist, by match (exact, perceptual)',
      labelNames: ['match'],
      registers: [registry],
    }),
  };
}
export type ModerationMetrics = ReturnType<typeof createModerationMetrics>;
