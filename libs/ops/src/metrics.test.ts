import { describe, expect, it } from '@jest/globals';
import { createRegistry, oldestWaitingAgeSeconds, registerQueueMetrics, type ObservedQueue } from './metrics.js';

// The queue gauges ask Redis at scrape time. A Redis that hangs or refuses must cost only
// those series, never the scrape: the HTTP, job and process metrics are what an operator
// needs to see during that very outage.

/** The gauges' clock: 2026-01-02 03:04:05 UTC. */
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const COUNTS = { waiting: 3, active: 1, delayed: 0, failed: 2, completed: 5, paused: 0, prioritized: 0 };

function queue(name: string, behaviour: 'answers' | 'hangs' | 'refuses'): ObservedQueue {
  const answer = <T>(value: T): Promise<T> =>
    behaviour === 'answers' ? Promise.resolve(value) : behaviour === 'hangs' ? new Promise<T>(() => undefined) : Promise.reject(new Error('Connection is closed.'));
  return {
    name,
    getJobCounts: () => answer({ ...COUNTS }),
    getJobs: () => answer([{ timestamp: NOW - 4_000, opts: {}, attemptsMade: 0 }]),
    isPaused: () => answer(false),
  } as unknown as ObservedQueue;
}

function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(found.lastIndexOf(' ') + 1));
}

describe('queue gauges', () => {
  it('report jobs per state and the oldest waiting age when Redis answers', async () => {
    const registry = createRegistry('test');
    const ingest = queue('ingest', 'answers');
    let reads = 0;
    const counted = { ...ingest, name: 'ingest', getJobCounts: (...states: []) => (reads++, ingest.getJobCounts(...states)) } as unknown as ObservedQueue;
    registerQueueMetrics(registry, [counted], { clock: () => NOW });
    const text = await registry.metrics();
    // One read of Redis per scrape, whatever the number of gauges.
    expect(reads).toBe(1);
    await registry.metrics();
    expect(reads).toBe(2);
    expect(sample(text, 'imagehost_queue_metrics_last_success_timestamp_seconds{service="test"}')).toBe(NOW / 1000);
    expect(sample(text, 'imagehost_queue_jobs{queue="ingest",state="waiting",service="test"}')).toBe(3);
    expect(sample(text, 'imagehost_queue_jobs{queue="ingest",state="failed",service="test"}')).toBe(2);
    expect(sample(text, 'imagehost_queue_oldest_waiting_age_seconds{queue="ingest",service="test"}')).toBe(4);
    expect(sample(text, 'imagehost_queue_paused{queue="ingest",service="test"}')).toBe(0);
  });

  it.each(['hangs', 'refuses'] as const)('when Redis %s, drop only their own series and still answer the scrape', async (behaviour) => {
    const registry = createRegistry('test');
    registerQueueMetrics(registry, [queue('ingest', 'answers'), queue('reap', behaviour)], { readTimeoutMs: 50 });
    const text = await registry.metrics();
    // Never read yet: 0.
    expect(sample(text, 'imagehost_queue_metrics_last_success_timestamp_seconds{service="test"}')).toBe(0);
    expect(text).not.toMatch(/^imagehost_queue_jobs\{/m);
    expect(text).not.toMatch(/^imagehost_queue_oldest_waiting_age_seconds\{/m);
    expect(text).not.toMatch(/^imagehost_queue_paused\{/m);
    // The rest of the scrape is there.
    expect(text).toMatch(/^process_cpu_user_seconds_total\{service="test"\} /m);
  });

  it('come back with the queues once Redis answers again, dropping no stale numbers meanwhile', async () => {
    const registry = createRegistry('test');
    let behaviour: 'answers' | 'refuses' = 'answers';
    const flaky = { name: 'ingest', getJobCounts: (...states: string[]) => queue('ingest', behaviour).getJobCounts(...(states as [])), getJobs: () => queue('ingest', behaviour).getJobs(['waiting']), isPaused: () => queue('ingest', behaviour).isPaused() } as unknown as ObservedQueue;
    registerQueueMetrics(registry, [flaky], { readTimeoutMs: 50 });
    expect(sample(await registry.metrics(), 'imagehost_queue_jobs{queue="ingest",state="waiting",service="test"}')).toBe(3);
    behaviour = 'refuses';
    expect(sample(await registry.metrics(), 'imagehost_queue_jobs{queue="ingest",state="waiting",service="test"}')).toBeUndefined();
    behaviour = 'answers';
    const text = await registry.metrics();
    expect(sample(text, 'imagehost_queue_jobs{queue="ingest",state="waiting",service="test"}')).toBe(3);
    expect(sample(text, 'imagehost_queue_metrics_last_success_timestamp_seconds{service="test"}')).toBeGreaterThan(0);
  });
});

describe('the oldest waiting age', () => {
  const now = 1_000_000_000;
  it('counts from when a job became waiting: its creation plus the delay it was added with', () => {
    expect(oldestWaitingAgeSeconds([{ timestamp: now - 4_000, opts: {}, attemptsMade: 0 }], now)).toBe(4);
    // A reap job delayed 10 minutes and waiting for 1 s is 1 s old, not 601.
    expect(oldestWaitingAgeSeconds([{ timestamp: now - 601_000, opts: { delay: 600_000 }, attemptsMade: 0 }], now)).toBe(1);
  });

  it('leaves out retried jobs, so a job back from hours of backoff does not look stuck', () => {
    const backFromBackoff = { timestamp: now - 3 * 3600_000, opts: {}, attemptsMade: 4 };
    expect(oldestWaitingAgeSeconds([backFromBackoff, { timestamp: now - 2_000, opts: {}, attemptsMade: 0 }], now)).toBe(2);
    expect(oldestWaitingAgeSeconds([backFromBackoff], now)).toBe(0);
    expect(oldestWaitingAgeSeconds([], now)).toBe(0);
  });
});
