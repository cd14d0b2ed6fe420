import { randomUUID } from 'node:crypto';
import { backendEnvironment, provideBackends, type Backends } from '@imagehost/backends';
import { TEST_RUN_VARIABLE } from './leftover-processes.js';

declare global {
  var imagehostTestBackends: Backends | undefined;
}

/**
 * Jest global setup: finds or starts the real backends once for the whole run and hands
 * their settings, and the run's marker, to the test workers through the environment (workers
 * inherit it).
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const backends = await provideBackends();
  globalThis.imagehostTestBackends = backends;
  Object.assign(process.env, backendEnvironment(backends.settings));
  // Set after the backends started: they are stopped by the teardown, not hunted down.
  process.env[TEST_RUN_VARIABLE] = randomUUID();
  const { redis, mongo, s3 } = backends.sources;
  process.stderr.write(
    `\n[backends] redis=${redis} ${backends.settings.redisUrl} mongo=${mongo} ${backends.settings.mongoUrl} s3=${s3} ${backends.settings.s3.endpoint} (ready in ${Date.now() - started} ms)\n`,
  );
}
