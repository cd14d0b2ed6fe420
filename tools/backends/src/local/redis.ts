import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
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

export interface RedisNodeProcess {
  readonly host: string;
  readonly port: number;
  readonly process: ServerProcess;
}

/** The settings every data node gets, those BullMQ requires: `noeviction`, because an evicted job key silently loses a job. */
const DATA_NODE_ARGS = ['--bind', '127.0.0.1', '--daemonize', 'no', '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'];

/**
 * Answers once the server on `port` is the process `pid`: a free port can be taken by
 * another test's server between the look-up and the bind, and that one would answer a PING.
 */
export async function probeOwnRedis(port: number, pid: number): Promise<void> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const answering = /process_id:(\d+)/.exec(await client.info('server'))?.[1];
    if (Number(answering) !== pid) throw new Error(`port ${port} is answered by process ${answering ?? '?'}, not by ${pid}`);
  } finally {
    client.disconnect();
  }
}

/** Starts a server on a free port, on another one when that port was taken before the bind. */
export async function onFreePort(start: (port: number) => Promise<ServerProcess>): Promise<{ port: number; process: ServerProcess }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      return { port, process: await start(port) };
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** One redis-server on a free loopback port, its data in `dataDir/name`. */
export async function startRedisNode(dataDir: string, name: string, extraArgs: readonly string[] = []): Promise<RedisNodeProcess> {
  const binary = await redisServerBinary();
  const dir = join(dataDir, name);
  mkdirSync(dir, { recursive: true });
  const { port, process } = await onFreePort((port) =>
    startServerProcess({
      name: `redis-server (${name})`,
      command: binary,
      args: [...DATA_NODE_ARGS, '--port', String(port), '--dir', dir, ...extraArgs],
      logFile: join(dir, 'redis.log'),
      probe: (pid) => probeOwnRedis(port, pid),
    }),
  );
  return { host: '127.0.0.1', port, process };
}

/** The suite's (or `npm start`'s) single Redis server. */
export async function startLocalRedis(dataDir: string): Promise<{ url: string; process: ServerProcess }> {
  const node = await startRedisNode(dataDir, 'redis');
  return { url: `redis://127.0.0.1:${node.port}`, process: node.process };
}
