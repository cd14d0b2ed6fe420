import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Settings } from './types.js';

// Pinned tags of published images; MinIO has none any more, so it is built from source.
export const REDIS_IMAGE = 'redis:7.4.6';
export const MONGO_IMAGE = 'mongo:7.0.15';
const MINIO_BUILD_CONTEXT = fileURLToPath(new URL('../../../deploy/minio/', import.meta.url));

type StartedContainer = { stop(): Promise<unknown>; getHost(): string; getMappedPort(port: number): number };

/**
 * Whether a Docker engine answers. Without any sign of one (no DOCKER_HOST, no socket, no
 * testcontainers settings file) testcontainers is not even loaded, since probing for a
 * runtime it cannot find takes seconds.
 */
export async function containerEngineAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const hints = [
    env.DOCKER_HOST !== undefined && env.DOCKER_HOST !== '',
    existsSync('/var/run/docker.sock'),
    existsSync(join(homedir(), '.testcontainers.properties')),
  ];
  if (!hints.some(Boolean)) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export interface ContainerBackend<T> {
  readonly settings: T;
  stop(): Promise<void>;
}

function stopper(container: StartedContainer): () => Promise<void> {
  return async () => {
    await container.stop();
  };
}

export async function startRedisContainer(): Promise<ContainerBackend<string>> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(REDIS_IMAGE)
    .withExposedPorts(6379)
    .withCommand(['redis-server', '--maxmemory-policy', 'noeviction', '--appendonly', 'yes'])
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  return { settings: `redis://${container.getHost()}:${container.getMappedPort(6379)}`, stop: stopper(container) };
}

export async function startMongoContainer(): Promise<ContainerBackend<string>> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(MONGO_IMAGE)
    .withExposedPorts(27017)
    .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
    .start();
  return { settings: `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/`, stop: stopper(container) };
}

export async function startMinioContainer(
  credentials: { accessKey: string; secretKey: string; region: string },
  bucket: string,
): Promise<ContainerBackend<S3Settings>> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const image = await GenericContainer.fromDockerfile(MINIO_BUILD_CONTEXT).build('imagehost-minio:local', { deleteOnExit: false });
  const container = await image
    .withExposedPorts(9000)
    .withEnvironment({ MINIO_ROOT_USER: credentials.accessKey, MINIO_ROOT_PASSWORD: credentials.secretKey })
    .withCommand(['server', '/data'])
    .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
    .start();
  return {
    settings: { endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`, ...credentials, bucket },
    stop: stopper(container),
  };
}
