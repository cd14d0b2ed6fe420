import { errorMessage } from '@imagehost/errors';
import type { Logger } from '@imagehost/logging';
import type { OpsServer } from './ops-server.js';

export interface ShutdownPlan {
  readonly log: Logger;
  readonly ops: OpsServer;
  /** Readiness is down this long before `stopIntake` runs, so load balancers notice first. */
  readonly drainMs: number;
  /** Past this the process exits whatever is in flight; keep it under the pod's grace period. */
  readonly timeoutMs: number;
  /** Stops taking work and waits for what is in flight (closing the HTTP server, the worker). */
  readonly stopIntake: () => Promise<void>;
  /** Closes connections once nothing runs any more. */
  readonly closeConnections: () => Promise<void>;
}

let exitWhileStarting: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * Until the service serves (and `shutDownGracefullyOnSignal` takes over), SIGTERM or SIGINT
 * exits at once: nothing is in flight yet, and a process running as PID 1 has no default
 * handler, so a start-up stuck on a backend would otherwise ignore the signal until killed.
 * Call it on the first line of `main`.
 */
export function exitOnSignalWhileStarting(log: Logger): void {
  exitWhileStarting = (signal) => {
    log.info({ signal }, 'stopped during start-up');
    process.exit(0);
  };
  process.once('SIGTERM', exitWhileStarting);
  process.once('SIGINT', exitWhileStarting);
}

/**
 * On SIGTERM or SIGINT: readiness drops, then intake stops and work in flight finishes, then
 * connections close and the process exits 0 — or exits 1 when that takes longer than the
 * bound.
 */
export function shutDownGracefullyOnSignal(plan: ShutdownPlan): void {
  let started = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    const began = Date.now();
    plan.log.info({ signal, drainMs: plan.drainMs, timeoutMs: plan.timeoutMs }, 'shutting down');
    plan.ops.markShuttingDown();
    const forceExit = setTimeout(() => {
      plan.log.error({ ms: Date.now() - began }, 'shutdown took too long; exiting with work in flight');
      process.exit(1);
    }, plan.timeoutMs);
    forceExit.unref();
    void (async () => {
      try {
        await new Promise((resolve) => setTimeout(resolve, plan.drainMs));
        await plan.stopIntake();
        await plan.closeConnections();
        await plan.ops.close();
        plan.log.info({ ms: Date.now() - began }, 'stopped');
        process.exit(0);
      } catch (error) {
        plan.log.error({ err: errorMessage(error) }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };
  if (exitWhileStarting !== undefined) {
    process.off('SIGTERM', exitWhileStarting);
    process.off('SIGINT', exitWhileStarting);
    exitWhileStarting = undefined;
  }
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
