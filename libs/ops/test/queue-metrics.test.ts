import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { testBackendSettings, uniqueName, waitFor } from '@imagehost/testing';
import { createRegistry, registerQueueMetrics } from '../src/index.js';

// The queue gauges on a real BullMQ queue: a job's delay, and a retry's backoff, are not time
// spent waiting for a worker; a paused queue says so, empty or not. The gauges read the time
// from the clock the test sets, so no test waits for a delay or an age to pass.

const connection = { url: testBackendSettings().redisUrl, maxRetriesPerRequest: null };
const prefix = uniqueName('queue-metrics');
const queue = new Queue('aged', { connection, prefix });

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
});

/** The gauges' clock, in milliseconds since the epoch; tests set it. */
let now = Date.now();

async function gauge(name: string, labels = ''): Promise<number> {
  const registry = createRegistry('test');
  registerQueueMetrics(registry, [queue], { clock: () => now });
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{queue="aged"${labels}`));
  return Number(line?.slice(line.lastIndexOf(' ') + 1));
}
const ageSeconds = () => gauge('imagehost_queue_oldest_waiting_age_seconds');

describe('imagehost_queue_oldest_waiting_age_seconds', () => {
  it('does not count a delay, nor the backoff of a retried job', async () => {
    // A job delayed 1.5 s, then waiting: its age starts when the delay ended.
    const delayed = await queue.add('delayed', {}, { delay: 1_500 });
    await delayed.promote();
    now = delayed.timestamp + 2_000;
    expect(await ageSeconds()).toBeCloseTo(0.5, 3);

    // A job that failed once and comes back from a 1.5 s backoff: left out.
    await queue.remove(delayed.id ?? '');
    const retried = await queue.add('retried', {}, { attempts: 2, backoff: { type: 'fixed', delay: 1_500 } });
    const worker = new Worker('aged', async () => Promise.reject(new Error('an outage')), { connection, prefix });
    await waitFor('the first attempt to fail', async () => ((await queue.getJob(retried.id ?? ''))?.attemptsMade === 1 ? true : undefined));
    await worker.close();
    // Its backoff ended, as the queue sees it: promoted now, and the clock well past its creation.
    await (await queue.getJob(retried.id ?? ''))?.promote().catch(() => undefined);
    await waitFor('the retry to be waiting', async () => ((await queue.getJobCounts('waiting')).waiting === 1 ? true : undefined));
    now = retried.timestamp + 60_000;
    expect(await ageSeconds()).toBe(0);

    // A fresh job beside it is counted as usual.
    const fresh = await queue.add('fresh', {});
    now = fresh.timestamp + 1_000;
    expect(await ageSeconds()).toBe(1);
  });
});

describe('imagehost_queue_paused', () => {
  it('is 1 while the queue is paused, with or without jobs, and 0 once resumed', async () => {
    await queue.obliterate({ force: true });
    expect(await gauge('imagehost_queue_paused')).toBe(0);
    await queue.pause();
    expect(await gauge('imagehost_queue_paused')).toBe(1);
    // Jobs added meanwhile are held as `paused`, not `waiting`.
    await queue.add('held', {});
    expect(await gauge('imagehost_queue_jobs', ',state="paused"')).toBe(1);
    expect(await gauge('imagehost_queue_paused')).toBe(1);
    await queue.resume();
    expect(await gauge('imagehost_queue_paused')).toBe(0);
    expect(await gauge('imagehost_queue_jobs', ',state="waiting"')).toBe(1);
  });
});
