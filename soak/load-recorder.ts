import type { OpStats, Phase, Unexpected } from './load-report.js';

// What the soak's load saw: requests, answers per operation and per phase, latencies, and
// the unexpected answers.

const MAX_UNEXPECTED_SAMPLES = 100;
/** How much of a response body an unexpected answer keeps. */
export const BODY_SAMPLE_CHARS = 300;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function count<K>(map: Map<K, Record<string, number>>, key: K, status: string): void {
  const counts = map.get(key) ?? {};
  counts[status] = (counts[status] ?? 0) + 1;
  map.set(key, counts);
}

export class LoadRecorder {
  private readonly latencies = new Map<string, number[]>();
  private readonly statuses = new Map<string, Record<string, number>>();
  private readonly phaseStatuses = new Map<Phase, Record<string, number>>();
  private readonly unexpectedSamples: Unexpected[] = [];
  private unexpectedAnswers = 0;
  private sent = 0;

  /** Requests sent so far. */
  get requests(): number {
    return this.sent;
  }

  get unexpectedCount(): number {
    return this.unexpectedAnswers;
  }

  /** The first unexpected answers (at most MAX_UNEXPECTED_SAMPLES). */
  get unexpected(): readonly Unexpected[] {
    return this.unexpectedSamples;
  }

  requestSent(): void {
    this.sent += 1;
  }

  /** How a request of `op` sent in `phase` ended (its status, or why none came) and after how long. */
  answered(op: string, phase: Phase, label: string, ms: number): void {
    const latencies = this.latencies.get(op) ?? [];
    latencies.push(ms);
    this.latencies.set(op, latencies);
    count(this.statuses, op, label);
    count(this.phaseStatuses, phase, label);
  }

  /** Counts an unexpected answer, and keeps it (its body cut short) while there is room. */
  unexpectedAnswer(entry: Unexpected): void {
    this.unexpectedAnswers += 1;
    if (this.unexpectedSamples.length < MAX_UNEXPECTED_SAMPLES) this.unexpectedSamples.push({ ...entry, body: entry.body.slice(0, BODY_SAMPLE_CHARS) });
  }

  /** Requests, statuses and latency percentiles of each operation. */
  opStats(): Record<string, OpStats> {
    const ops: Record<string, OpStats> = {};
    for (const [op, values] of this.latencies) {
      const sorted = [...values].sort((a, b) => a - b);
      ops[op] = {
        requests: sorted.length,
        statuses: this.statuses.get(op) ?? {},
        p50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
        p99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
        maxMs: Math.round((sorted[sorted.length - 1] ?? 0) * 10) / 10,
      };
    }
    return ops;
  }

  /** Requests and statuses of each phase. */
  phaseStats(): Record<string, { requests: number; statuses: Record<string, number> }> {
    const phases: Record<string, { requests: number; statuses: Record<string, number> }> = {};
    for (const [phase, statuses] of this.phaseStatuses) phases[phase] = { requests: Object.values(statuses).reduce((a, b) => a + b, 0), statuses };
    return phases;
  }
}
