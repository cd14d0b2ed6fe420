import type { QueueEvents } from 'bullmq';
import { AppError, errorMessage } from '@imagehost/errors';
import { decodeJobFailure, enqueueIngest, ingestJobId, isWaitTimeout, type IngestJobData, type IngestJobResult, type IngestQueue } from '@imagehost/jobs';
import type { Logger } from '@imagehost/logging';
import { observeRedisCall, within, type BackendCallObserver } from '@imagehost/ops';
import type { GatewayMetrics } from '../metrics.js';

/** A job on the ingest queue, as `enqueue` returns it. */
export type IngestJob = Awaited<ReturnType<IngestQueue['add']>>;

export type IngestOutcome = { readonly state: 'done'; readonly result: IngestJobResult } | { readonly state: 'pending' };

/**
 * The gateway's side of the ingest queue: enqueue a job and wait a bounded time for its
 * result, so clients get the synchronous contract while the work scales in the workers.
 */
export class IngestClient {
  private stopped = false;
  private readonly stopWaitingListeners = new Set<() => void>();

  constructor(
    private readonly queue: IngestQueue,
    private readonly events: QueueEvents,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    /** Whether Redis answers right now (a fail-fast client's view of it). */
    private readonly redisReachable: () => boolean,
    private readonly options: {
      /** How long an add may take before the upload is answered 503 (REDIS_DEADLINE_MS). */
      readonly enqueueDeadlineMs: number;
      readonly observeRedisCall?: BackendCallObserver | undefined;
    },
  ) {
    // BullMQ's wait for a job puts a 'closing' listener on the queue until the job finishes:
    // one per upload in flight, removed when its wait ends. Past ten at once Node would log
    // "possible EventEmitter memory leak" for what is only load.
    queue.setMaxListeners(0);
  }

  /**
   * Refuses at once (503) while Redis is away, so an upload is not read, stored and then
   * dropped — and BullMQ, which waits for a connection it never had, is not asked at all.
   */
  assertAvailable(): void {
    if (!this.redisReachable()) throw new AppError('BACKEND_UNAVAILABLE', 'the ingest queue is unavailable', { retryAfterSeconds: 5 });
  }

  /**
   * Ends every wait now and makes later ones end at once, answering `pending` (202): on
   * shutdown the uploads are safe in the queue and their clients should not hold the
   * process open for the rest of INGEST_WAIT_MS.
   */
  stopWaiting(): void {
    this.stopped = true;
    for (const listener of this.stopWaitingListeners) listener();
    this.stopWaitingListeners.clear();
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** Adds the job; an error here means Redis did not take it (nothing was queued). */
  async enqueue(data: IngestJobData): Promise<IngestJob> {
    try {
      // A hung Redis may still run the add once it wakes: the job then finds its object gone
      // (removed by the caller on this error) and fails without recording anything.
      return await observeRedisCall(this.options.observeRedisCall, 'enqueue ingest', within(this.options.enqueueDeadlineMs, enqueueIngest(this.queue, data)));
    } catch (error) {
      throw new AppError('BACKEND_UNAVAILABLE', 'the ingest queue is unavailable', { cause: error, retryAfterSeconds: 5 });
    }
  }

  /**
   * Waits up to `waitMs` for the job's result. `pending` when it is still queued or running
   * then; the refusal (415/422…) when the worker refused the image.
   */
  async waitForResult(job: IngestJob, waitMs: number, enqueuedAt: number): Promise<IngestOutcome> {
    if (waitMs <= 0 || this.stopped) return { state: 'pending' };
    const jobId = job.id ?? ingestJobId(job.data);
    let onStop: (() => void) | undefined;
    const stoppedWaiting = new Promise<'stopped'>((resolve) => {
      onStop = () => resolve('stopped');
      this.stopWaitingListeners.add(onStop);
    });
    try {
      const result = await Promise.race([job.waitUntilFinished(this.events, waitMs), stoppedWaiting]);
      if (result === 'stopped') return { state: 'pending' };
      this.forget(jobId);
      const totalMs = performance.now() - enqueuedAt;
      const hopMs = Math.max(0, totalMs - result.workMs);
      this.metrics.ingestHop.observe(hopMs / 1000);
      this.log.info({ jobId, imageKey: result.imageKey, waitMs: totalMs, workMs: result.workMs, hopMs }, 'ingest result');
      return { state: 'done', result };
    } catch (error) {
      if (isWaitTimeout(error)) return { state: 'pending' };
      const reason = errorMessage(error);
      const refusal = decodeJobFailure(reason);
      this.forget(jobId);
      if (refusal !== undefined) throw refusal;
      throw new AppError('BACKEND_UNAVAILABLE', `ingest did not finish: ${reason}`, { cause: error });
    } finally {
      if (onStop !== undefined) this.stopWaitingListeners.delete(onStop);
    }
  }

  /** A finished job has told its waiter everything; removing it keeps Redis small. */
  private forget(jobId: string): void {
    this.queue.remove(jobId).catch((error: unknown) => {
      this.log.warn({ jobId, err: errorMessage(error) }, 'could not remove a finished ingest job');
    });
  }
}
