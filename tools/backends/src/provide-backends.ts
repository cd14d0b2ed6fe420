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
import { startLocalMinio } from './local/minio.js';
import { startLocalMongo } from './local/mongo-java-server.js';
import { startLocalRedis } from './local/redis.js';
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
 * server processes built and started here (redis-server, mongo-java-server on H2, MinIO).
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

  // Each backend on its own: given by URL, else a container, else a local process.
  const provide = <T>(
    given: T | undefined,
    inContainer: () => Promise<{ settings: T; stop: () => Promise<void> }>,
    localName: string,
    startLocal: (dir: string) => Promise<{ settings: T; stop: () => Promise<void> }>,
  ): Promise<ProvidedBackend<T>> => {
    if (given !== undefined) return Promise.resolve(fromEnvironment(given));
    if (useContainers) return inContainer().then((started) => ({ ...started, source: 'container' as const }));
    return localBackend(localName, options.dataRoot, startLocal);
  };

  const starting: [Promise<ProvidedBackend<string>>, Promise<ProvidedBackend<string>>, Promise<ProvidedBackend<S3Settings>>] = [
    provide(redisUrl, startRedisContainer, 'redis', async (dir) => {
      const redis = await startLocalRedis(dir);
      return { settings: redis.url, stop: redis.process.stop };
    }),
    provide(mongoUrl, startMongoContainer, 'mongo', async (dir) => {
      const mongo = await startLocalMongo(dir);
      return { settings: mongo.url, stop: mongo.process.stop };
    }),
    provide(s3, () => startMinioContainer(credentials, bucket), 'minio', async (dir) => {
      const minio = await startLocalMinio(dir, credentials);
      return { settings: { endpoint: minio.endpoint, ...credentials, bucket }, stop: minio.process.stop };
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
