import { errorMessage } from '@imagehost/errors';
import type { Logger } from '@imagehost/logging';
import type { ReadinessCheck } from './ops-server.js';

/**
 * Runs a service's start-up work (connect, create the bucket and indexes…) until it succeeds,
 * retrying with a growing pause (1 s up to 10 s), while the service already serves its ops
 * port. A backend that is down at start makes the service not ready — it answers what it can
 * (503 for the rest) and recovers without a restart — instead of crash-looping.
 * The returned readiness check fails until then.
 */
export function prepareInBackground(log: Logger, what: string, task: () => Promise<unknown>): ReadinessCheck {
  let done = false;
  let lastError = 'in progress';
  void (async () => {
    for (let attempt = 1; !done; attempt++) {
      try {
        await task();
        done = true;
        if (attempt > 1) log.info({ attempt }, `${what}: done`);
      } catch (error) {
        lastError = errorMessage(error);
        log.warn({ attempt, err: lastError }, `${what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 1000 * attempt)));
      }
    }
  })();
  return {
    name: 'startup',
    check: async () => {
      if (!done) throw new Error(`${what}: ${lastError}`);
    },
  };
}
