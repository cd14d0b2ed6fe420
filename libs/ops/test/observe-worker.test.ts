import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { testBackendSettings, uniqueName, waitFor } from '@imagehost/testing';
import { createLogger } from '@imagehost/logging';
import { createJobMetrics, createRegistry } from '../src/index.js';
import { observeWorker } from '../src/observe-worker.js';

// A worker's saturation and its jobs' wait, from a real BullMQ worker on the real Redis.

const connection = { url: testBackendSettings().redisUrl, maxRetriesPerRequest: null };
const prefix = uniqueName('observe-worker');
const queue = new Queue('observed', { connection, prefix });

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
});

// The value of the sample with exactly these labels (the registry adds service="test").
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.replace('service="test",', '').replace(',service="test"', '').startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('observeWorker', () => {
  it('shows the jobs running against the concurrency, and a wait that leaves out the delay a job was added with', async () => {
    const registry = createRegistry('test');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const worker = new Worker('observed', async () => held, { connection, prefix, concurrency: 3 });
    observeWorker(worker, createJobMetrics(registry), createLogger('test', 'silent'), () => ({}));
    try {
      await worker.waitUntilReady();
      await queue.add('delayed', {}, { delay: 1_500 });
      await waitFor('the job to run', async () => (sample(await registry.metrics(), 'imagehost_worker_active_jobs{queue="observed"}') === 1 ? true : undefined), 10_000);
      const running = await registry.metrics();
      expect(sample(running, 'imagehost_worker_concurrency{queue="observed"}')).toBe(3);
      expect(sample(running, 'imagehost_job_wait_seconds_count{queue="observed"}')).toBe(1);
      // It waited for a worker well under its 1.5 s delay.
      expect(sample(running, 'imagehost_job_wait_seconds_sum{queue="observed"}')).toBeLessThan(1);
      release();
      await waitFor('the job to end', async () => (sample(await registry.metrics(), 'imagehost_worker_active_jobs{queue="observed"}') === 0 ? true : undefined), 10_000);
      expect(sample(await registry.metrics(), 'imagehost_jobs_total{queue="observed",outcome="completed"}')).toBe(1);
    } finally {
      release();
      await worker.close();
    }
  }, 30_000);
});
