import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { AppError } from '@imagehost/errors';
import { testBackendSettings, uniqueName, waitFor } from '@imagehost/testing';
import { decodeJobFailure, failedByStalling, isWaitTimeout, toWorkerError } from '../src/job-outcomes.js';
import { createWorker } from '../src/queues.js';

// BullMQ's texts and behaviours that job-outcomes.ts relies on, against the real library
// and a real Redis: an upgrade that changes one of them fails here, not in production.

const settings = testBackendSettings();
const connection = { url: settings.redisUrl, maxRetriesPerRequest: null };
const QUEUE = 'outcomes';

type Data = { n: number };
const closers: (() => Promise<unknown>)[] = [];

/** A queue and its events under a prefix of their own, removed after the test. */
async function freshQueue(): Promise<{ prefix: string; queue: Queue<Data>; events: QueueEvents }> {
  const prefix = uniqueName('outcomes');
  const queue = new Queue<Data>(QUEUE, { connection, prefix });
  // From the stream's start, so an event written before the first read is not missed.
  const events = new QueueEvents(QUEUE, { connection, prefix, lastEventId: '0-0' });
  closers.push(async () => {
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return { prefix, queue, events };
}

function track<W extends Worker>(worker: W): W {
  closers.unshift(() => worker.close(true));
  return worker;
}

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** What `waitUntilFinished` rejected with. */
async function waitError(promise: Promise<unknown>): Promise<Error> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(error)}`);
  return error;
}

describe('waiting for a job', () => {
  it('a wait that outlasts its ttl is recognised as a timeout', async () => {
    const { queue, events } = await freshQueue();
    const job = await queue.add('nobody-takes-it', { n: 1 });
    const error = await waitError(job.waitUntilFinished(events, 150));
    expect(isWaitTimeout(error)).toBe(true);
    expect(decodeJobFailure(error.message)).toBeUndefined();
  });
});

describe('a job that stalls past its maxStalledCount', () => {
  it('fails with a reason recognised as stalling, and is not run again', async () => {
    const { prefix, queue, events } = await freshQueue();
    const options = { connection, prefix, lockDuration: 500, stalledInterval: 200, maxStalledCount: 0 };
    // Takes the job and then neither completes it nor extends its lock: a worker that hung.
    const hung = track(new Worker<Data>(QUEUE, null, { ...options, autorun: false }));
    const job = await queue.add('stalls', { n: 2 });
    const taken = await hung.getNextJob(randomUUID());
    expect(taken?.id).toBe(job.id);

    let runs = 0;
    track(
      new Worker<Data>(
        QUEUE,
        async () => {
          runs += 1;
        },
        options,
      ),
    );
    const error = await waitError(job.waitUntilFinished(events, 20_000));
    expect(isWaitTimeout(error)).toBe(false);
    expect(failedByStalling(error.message)).toBe(true);
    const failed = await queue.getJob(job.id ?? '');
    expect(await failed?.getState()).toBe('failed');
    expect(failedByStalling(failed?.failedReason ?? '')).toBe(true);
    expect(decodeJobFailure(failed?.failedReason ?? '')).toBeUndefined();
    expect(runs).toBe(0);
  });
});

describe("a handler's AppError through toWorkerError", () => {
  it('fails the job at once on a refusal, with a reason that decodes to the same code', async () => {
    const { prefix, queue, events } = await freshQueue();
    let runs = 0;
    track(
      createWorker<Data, void, string>(QUEUE, { redis: { kind: 'server', url: settings.redisUrl }, prefix }, async () => {
        runs += 1;
        throw toWorkerError(new AppError('IMAGE_UNDECODABLE', 'premature end: of JPEG'));
      }),
    );
    const job = await queue.add('refused', { n: 3 }, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    const error = await waitError(job.waitUntilFinished(events, 20_000));
    expect(isWaitTimeout(error)).toBe(false);
    const decoded = decodeJobFailure(error.message);
    expect(decoded).toMatchObject({ code: 'IMAGE_UNDECODABLE', message: 'premature end: of JPEG', retryable: false });

    const failed = await queue.getJob(job.id ?? '');
    expect(await failed?.getState()).toBe('failed');
    expect(decodeJobFailure(failed?.failedReason ?? '')?.code).toBe('IMAGE_UNDECODABLE');
    expect(failed?.attemptsMade).toBe(1);
    expect(runs).toBe(1);
  });

  it('retries an outage, and a job that runs out of attempts still carries its code', async () => {
    const { prefix, queue, events } = await freshQueue();
    const runs = new Map<number, number>();
    track(
      createWorker<Data, string, string>(QUEUE, { redis: { kind: 'server', url: settings.redisUrl }, prefix }, async (job) => {
        const run = (runs.get(job.data.n) ?? 0) + 1;
        runs.set(job.data.n, run);
        // Job 1 recovers on its second run; job 2 never does.
        if (job.data.n === 2 || run < 2) throw toWorkerError(new AppError('BACKEND_UNAVAILABLE', 'S3 down'));
        return 'stored';
      }),
    );
    const options = { attempts: 3, backoff: { type: 'fixed', delay: 10 } };
    const recovers = await queue.add('outage', { n: 1 }, options);
    const exhausts = await queue.add('outage', { n: 2 }, options);

    await expect(recovers.waitUntilFinished(events, 20_000)).resolves.toBe('stored');
    expect(runs.get(1)).toBe(2);

    const error = await waitError(exhausts.waitUntilFinished(events, 20_000));
    expect(decodeJobFailure(error.message)).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true });
    const failed = await waitFor('the exhausted job to be failed', async () => {
      const job = await queue.getJob(exhausts.id ?? '');
      return (await job?.getState()) === 'failed' ? job : undefined;
    });
    expect(decodeJobFailure(failed?.failedReason ?? '')?.code).toBe('BACKEND_UNAVAILABLE');
    expect(failed?.attemptsMade).toBe(3);
    expect(runs.get(2)).toBe(3);
  });
});
