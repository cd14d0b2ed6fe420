import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  containerEngineAnswers,
  startMinioContainer,
  startMongoContainer,
  startRedisContainer,
} from './containers.js';
import {
  DEFAULT_S3_REGION,
  mongoUrlFromEnvironment,
  redisUrlFromEnvironment,
  s3BucketFromEnvironment,
  s3FromEnvironment,
} from './environment.js';
import { startLocalFerretdb } from './local/ferretdb.js';
import { startLocalRedis } from './local/redis.js';
import { startLocalVersitygw } from './local/versitygw.js';
import type { BackendSource, Backends, ProvidedBackend, S3Settings } from './types.js';

export interface ProvideBackendsOptions {
  /**
   * A folder for the data of locally started servers, kept between runs (`npm start` uses
   * one). Without it each server gets a fresh temporary folder, removed on stop.
   */
  readonly dataRoot?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Skip the container engine even when one answers (local processes instead). */
  readonly skipContainers?: boolean;
}

function fromEnvironment<T>(settings: T): ProvidedBackend<T> {
  return { settings, source: 'environment', stop: async () => undefined };
}

function dataDirFor(name: string, dataRoot: string | undefined): { dir: string; dispose: () => void } {
  if (dataRoot !== undefined) {
    const dir = join(dataRoot, name);
    mkdirSync(dir, { recursive: true });
    return { dir, dispose: () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), `imagehost-${name}-`));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

async function localBackend<T>(
  name: string,
  dataRoot: string | undefined,
  start: (dir: string) => Promise<{ settings: T; stop: () => Promise<void> }>,
): Promise<ProvidedBackend<T>> {
  const { dir, dispose } = dataDirFor(name, dataRoot);
  try {
    const started = await start(dir);
    return {
      settings: started.settings,
      source: 'local-process',
      stop: async () => {
        await started.stop();
        dispose();
      },
    };
  } catch (error) {
    dispose();
    throw error;
  }
}

/**
 * Finds or starts Redis, a MongoDB-protocol server and an S3 server, each independently, in
 * this order: URLs from the environment; containers when a Docker engine answers; local
 * server processes built and started here (redis-server, FerretDB on SQLite, versitygw).
 * Used by `npm start` and by the test suite alike.
 */
export async function provideBackends(options: ProvideBackendsOptions = {}): Promise<Backends> {
  const env = options.env ?? process.env;
  const redisUrl = redisUrlFromEnvironment(env);
  const mongoUrl = mongoUrlFromEnvironment(env);
  const s3 = s3FromEnvironment(env);
  const bucket = s3BucketFromEnvironment(env);

  const needsStarting = redisUrl === undefined || mongoUrl === undefined || s3 === undefined;
  const useContainers = needsStarting && options.skipContainers !== true && (await containerEngineAnswers(env));
  // Credentials for a server started here; random so a stray local server is not an open one.
  const credentials = { accessKey: `imagehost${randomBytes(4).toString('hex')}`, secretKey: randomBytes(24).toString('hex'), region: DEFAULT_S3_REGION };

  const starting: [Promise<ProvidedBackend<string>>, Promise<ProvidedBackend<string>>, Promise<ProvidedBackend<S3Settings>>] = [
    redisUrl !== undefined
      ? Promise.resolve(fromEnvironment(redisUrl))
      : useContainers
        ? startRedisContainer().then((c) => ({ ...c, source: 'container' as const }))
        : localBackend('redis', options.dataRoot, async (dir) => {
            const r = await startLocalRedis(dir);
            return { settings: r.url, stop: r.process.stop };
          }),
    mongoUrl !== undefined
      ? Promise.resolve(fromEnvironment(mongoUrl))
      : useContainers
        ? startMongoContainer().then((c) => ({ ...c, source: 'container' as const }))
        : localBackend('ferretdb', options.dataRoot, async (dir) => {
            const m = await startLocalFerretdb(dir);
            return { settings: m.url, stop: m.process.stop };
          }),
    s3 !== undefined
      ? Promise.resolve(fromEnvironment(s3))
      : useContainers
        ? startMinioContainer(credentials, bucket).then((c) => ({ ...c, source: 'container' as const }))
        : localBackend('versitygw', options.dataRoot, async (dir) => {
            const v = await startLocalVersitygw(dir, credentials);
            return { settings: { endpoint: v.endpoint, ...credentials, bucket }, stop: v.process.stop };
          }),
  ];

  const results = await Promise.allSettled(starting);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(started.map((b) => b.stop()));
  };
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) {
    await stopAll();
    throw failure.reason;
  }
  const [redis, mongo, objectStore] = started as [ProvidedBackend<string>, ProvidedBackend<string>, ProvidedBackend<S3Settings>];

  let stopped: Promise<void> | undefined;
  return {
    settings: { redisUrl: redis.settings, mongoUrl: mongo.settings, s3: objectStore.settings },
    sources: { redis: redis.source, mongo: mongo.source, s3: objectStore.source } satisfies Record<string, BackendSource>,
    stop: () => (stopped ??= stopAll()),
  };
}
