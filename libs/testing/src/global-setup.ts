import { backendEnvironment, provideBackends, type Backends } from '@imagehost/backends';

declare global {
  var imagehostTestBackends: Backends | undefined;
}

/**
 * Jest global setup: finds or starts the real backends once for the whole run and hands
 * their settings to the test workers through the environment (workers inherit it).
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const backends = await provideBackends();
  globalThis.imagehostTestBackends = backends;
  Object.assign(process.env, backendEnvironment(backends.settings));
  const { redis, mongo, s3 } = backends.sources;
  process.stderr.write(
    `\n[backends] redis=${redis} ${backends.settings.redisUrl} mongo=${mongo} ${backends.settings.mongoUrl} s3=${s3} ${backends.settings.s3.endpoint} (ready in ${Date.now() - started} ms)\n`,
  );
}
