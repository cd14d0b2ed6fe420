import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findFreePort } from './free-port.js';
import { debianTool } from './debian-packages.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

/** Debian's redis-server, installed with apt-get when it is missing. */
export async function redisServerBinary(): Promise<string> {
  return debianTool({
    candidates: ['redis-server', '/usr/bin/redis-server', '/usr/sbin/redis-server'],
    packages: ['redis-server'],
    otherwise: 'set REDIS_URL',
  });
}

export async function pingRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const answer = await client.ping();
    if (String(answer) !== "PONG") throw new Error(`PING answered ${String(answer)}`);
  } finally {
    client.disconnect();
  }
}

/**
 * Starts redis-server on a free loopback port. The settings are the ones BullMQ requires:
 * `noeviction`, because an evicted job key silently loses a job.
 */
export async function startLocalRedis(dataDir: string): Promise<{ url: string; process: ServerProcess }> {
  const binary = await redisServerBinary();
  const port = await findFreePort();
  const url = `redis://127.0.0.1:${port}`;
  const server = await startServerProcess({
    name: 'redis-server',
    command: binary,
    args: [
      '--bind', '127.0.0.1',
      '--port', String(port),
      '--dir', dataDir,
      '--daemonize', 'no',
      '--save', '',
      '--appendonly', 'yes',
      '--maxmemory-policy', 'noeviction',
    ],
    logFile: join(dataDir, 'redis.log'),
    probe: () => pingRedis(url),
  });
  return { url, process: server };
}
