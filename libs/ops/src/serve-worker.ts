import type { Worker } from 'bullmq';
import type { Registry } from 'prom-client';
import type { Logger } from '@imagehost/logging';
import { shutDownGracefullyOnSignal } from './graceful-shutdown.js';
import { startOpsServer, type ReadinessCheck } from './ops-server.js';

export interface WorkerServiceOptions {
  readonly log: Logger;
  readonly ops: { readonly host: string; readonly port: number };
  readonly shutdownTimeoutMs: number;
  readonly registry: Registry;
  readonly checks: readonly ReadinessCheck[];
  readonly worker: Pick<Worker, 'waitUntilReady' | 'close'>;
  /** Facts for the `ready` log line (queue, concurrency…). */
  readonly readyFields: Record<string, unknown>;
  /** Closes the service's connections once the worker has stopped. */
  readonly closeConnections: () => Promise<void>;
}

/**
 * The life of a queue worker process: its ops port, `ready` once the worker listens, and on
 * SIGTERM a worker that takes no new job and finishes the ones in flight before connections
 * close. A worker has no load balancer to warn, so there is no drain delay.
 */
export async function serveWorker(options: WorkerServiceOptions): Promise<void> {
  const { log, worker } = options;
  const ops = await startOpsServer({ host: options.ops.host, port: options.ops.port, registry: options.registry, log, checks: options.checks });
  await worker.waitUntilReady();
  log.info({ ...options.readyFields, opsPort: ops.port }, 'ready');
  shutDownGracefullyOnSignal({
    log,
    ops,
    drainMs: 0,
    timeoutMs: options.shutdownTimeoutMs,
    stopIntake: () => worker.close(),
    closeConnections: options.closeConnections,
  });
}
