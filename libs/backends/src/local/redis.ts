import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BackendUnavailableError } from '../types.js';
import { findFreePort } from './free-port.js';
import { commandExists, runCommand } from './run-command.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const REDIS_CANDIDATES = ['redis-server', '/usr/bin/redis-server', '/usr/sbin/redis-server'];

async function findRedisServer(): Promise<string | undefined> {
  for (const candidate of REDIS_CANDIDATES) {
    if (candidate.startsWith('/') ? existsSync(candidate) : await commandExists(candidate)) return candidate;
  }
  return undefined;
}

/** Finds Debian's redis-server, installing the package with apt-get when it is missing. */
export async function redisServerBinary(): Promise<string> {
  const found = await findRedisServer();
  if (found !== undefined) return found;

  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && (await commandExists('sudo', ['-n', 'true'])) ? ['sudo', '-n'] : [];
  if (!isRoot && sudo.length === 0) {
    throw new BackendUnavailableError(
      'redis-server is not installed and this user cannot install it: run `apt-get install redis-server` as root, or set REDIS_URL.',
    );
  }
  process.stderr.write('[backends] installing redis-server with apt-get\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const [command, ...prefix] = [...sudo, 'apt-get'];
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'redis-server']]) {
    const result = await runCommand(command ?? 'apt-get', [...prefix, ...args], { env });
    if (result.code !== 0) {
      throw new BackendUnavailableError(
        `apt-get ${args[0]} failed while installing redis-server (${result.output.trim().slice(-500)}): install redis-server by hand or set REDIS_URL.`,
      );
    }
  }
  const installed = await findRedisServer();
  if (installed === undefined) throw new BackendUnavailableError('redis-server is still missing after apt-get install: set REDIS_URL.');
  return installed;
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
