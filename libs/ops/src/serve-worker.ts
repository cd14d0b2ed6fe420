import type { Job, Worker } from 'bullmq';
import type { Registry } from 'prom-client';
import type { Logger } from '@imagehost/logging';
import type { ServiceBackends } from './connect-backends.js';
import { shutDownGracefullyOnSignal } from './graceful-shutdown.js';
import { createJobMetrics, registerQueueMetrics } from './metrics.js';
import { observeWorker } from './observe-worker.js';
import { startOpsServer } from './ops-server.js';

export interface WorkerServiceOptions<Data, Result, Name extends string> {
  readonly log: Logger;
  /** The service's ops port and shutdown bound. */
  readonly config: { readonly ops: { readonly host: string; readonly port: number }; readonly shutdown: { readonly timeoutMs: number } };
  /** The service's registry; queue gauges and job metrics are added to it here. */
  readonly registry: Registry;
  /** Its start-up work begins here, in the background; readiness waits for it. */
  readonly backends: ServiceBackends;
  readonly worker: Worker<Data, Result, Name>;
  /** What a job's log lines say of it (ids, never keys). */
  readonly describeJob: (job: Job<Data, Result, Name>) => Record<string, unknown>;
  /** Facts for the `ready` log line (queue, concurrency…). */
  readonly readyFields: Record<string, unknown>;
  /** Stops the service's own timers before the backends close. */
  readonly beforeClose?: () => void;
}

/**
 * The life of a queue worker process: its metrics and ops port, `ready` once the worker
 * listens, and on SIGTERM a worker that takes no new job and finishes the ones in flight
 * before connections close. A worker has no load balancer to warn, so there is no drain delay.
 */
export async function serveWorker<Data, Result, Name extends string>(options: WorkerServiceOptions<Data, Result, Name>): Promise<void> {
  const { log, worker, registry, backends } = options;
  registerQueueMetrics(registry, [backends.ingestQueue, backends.reapQueue]);
  observeWorker(worker, createJobMetrics(registry), log, options.describeJob);
  const checks = backends.prepareInBackground();
  const ops = await startOpsServer({ host: options.config.ops.host, port: options.config.ops.port, registry, log, checks });
  await worker.waitUntilReady();
  log.info({ ...options.readyFields, opsPort: ops.port }, 'ready');
  shutDownGracefullyOnSignal({
    log,
    ops,
    drainMs: 0,
    timeoutMs: options.config.shutdown.timeoutMs,
    stopIntake: () => worker.close(),
    closeConnections: async () => {
      options.beforeClose?.();
      await backends.close();
    },
  });
}
