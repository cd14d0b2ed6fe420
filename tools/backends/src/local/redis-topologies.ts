import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '@imagehost/errors';
import { Redis } from 'ioredis';
import { BackendUnavailableError } from '../types.js';
import { debianTool } from './debian-packages.js';
import { freePort } from './free-port.js';
import { onFreePort, probeOwnRedis, redisServerBinary, startRedisNode, type RedisNodeProcess } from './redis.js';
import { runCommand } from './run-command.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

// Redis as operators run it beyond one machine, on loopback for the topology tests: a
// Cluster of primaries, and a primary with a replica watched by Sentinels.

export type { RedisNodeProcess };

async function stopAll(nodes: readonly { process: ServerProcess }[]): Promise<void> {
  await Promise.allSettled(nodes.map((node) => node.process.stop()));
}

/** Asks one node a question until `accept` likes the answer, or fails after `timeoutMs`. */
async function waitForAnswer(port: number, command: [string, ...string[]], accept: (answer: string) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  client.on('error', () => undefined);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    while (Date.now() < deadline) {
      last = String(await client.call(...command).catch((error: unknown) => errorMessage(error)));
      if (accept(last)) return;
      await sleep(100);
    }
  } finally {
    client.disconnect();
  }
  throw new BackendUnavailableError(`${what} did not happen within ${timeoutMs} ms (port ${port} answered: ${last.slice(0, 300)})`);
}

async function askOnce<T>(port: number, ask: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    return await ask(client);
  } finally {
    client.disconnect();
  }
}

async function primaryPortNamedBy(sentinelPort: number, name: string): Promise<number | undefined> {
  const answer = await askOnce(sentinelPort, (client) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).catch(() => undefined);
  return Array.isArray(answer) ? Number(answer[1]) : undefined;
}

async function isPrimary(port: number): Promise<boolean> {
  const info = await askOnce(port, (client) => client.info('replication')).catch(() => '');
  return info.includes('role:master');
}

async function waitForAgreement(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new BackendUnavailableError(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface LocalRedisCluster {
  readonly nodes: readonly RedisNodeProcess[];
  readonly stop: () => Promise<void>;
}

/**
 * Starts `primaries` cluster-enabled redis-servers and joins them into one Redis Cluster with
 * `redis-cli --cluster create` (no replicas), returning once every node reports `cluster_state:ok`.
 */
export async function startLocalRedisCluster(dataDir: string, primaries = 3): Promise<LocalRedisCluster> {
  const cli = await debianTool({ candidates: ['redis-cli', '/usr/bin/redis-cli'], versionArgs: ['--version'], packages: ['redis-tools'], otherwise: 'set REDIS_URL' });
  const nodes: RedisNodeProcess[] = [];
  try {
    for (let index = 0; index < primaries; index += 1) {
      // The bus port is set, not left at port + 10000, which may be taken or past 65535.
      const busPort = await freePort();
      nodes.push(
        await startRedisNode(dataDir, `cluster-${index}`, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--cluster-port', String(busPort)]),
      );
    }
    const created = await runCommand(cli, ['--cluster', 'create', ...nodes.map((node) => `${node.host}:${node.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    if (created.code !== 0) throw new BackendUnavailableError(`redis-cli --cluster create failed: ${created.output.trim().slice(-500)}`);
    for (const node of nodes) await waitForAnswer(node.port, ['CLUSTER', 'INFO'], (info) => info.includes('cluster_state:ok'), 'the cluster becoming ok');
  } catch (error) {
    await stopAll(nodes);
    throw error;
  }
  return { nodes, stop: () => stopAll(nodes) };
}

export interface LocalRedisSentinels {
  /** The name the Sentinels monitor the primary under. */
  readonly name: string;
  /** The primary and its replica, as started (a failover swaps their roles). */
  readonly dataNodes: readonly [RedisNodeProcess, RedisNodeProcess];
  readonly sentinels: readonly RedisNodeProcess[];
  /**
   * The data node that is primary now, as every Sentinel names it and it says itself (waiting
   * for them to agree), and the other one. A loaded machine can make the Sentinels fail over
   * on their own.
   */
  readonly roles: () => Promise<{ primary: RedisNodeProcess; replica: RedisNodeProcess }>;
  readonly stop: () => Promise<void>;
}

/**
 * Starts a primary, one replica and three Sentinels (quorum 2) that declare the primary down
 * after `downAfterMs` and promote the replica. The Sentinels are redis-server in sentinel mode
 * (`--sentinel`), the program Debian's redis-sentinel package links to.
 */
export async function startLocalRedisSentinels(dataDir: string, options: { name?: string; downAfterMs?: number } = {}): Promise<LocalRedisSentinels> {
  const { name = 'imagehost', downAfterMs = 1000 } = options;
  const started: RedisNodeProcess[] = [];
  try {
    const primary = await startRedisNode(dataDir, 'primary');
    started.push(primary);
    const replica = await startRedisNode(dataDir, 'replica', ['--replicaof', primary.host, String(primary.port)]);
    started.push(replica);
    await waitForAnswer(replica.port, ['INFO', 'replication'], (info) => info.includes('master_link_status:up'), 'the replica syncing');

    const binary = await redisServerBinary();
    const sentinels: RedisNodeProcess[] = [];
    for (let index = 0; index < 3; index += 1) {
      const dir = join(dataDir, `sentinel-${index}`);
      mkdirSync(dir, { recursive: true });
      const { port, process } = await onFreePort((port) => {
        // Sentinel rewrites its configuration file as it learns, so each gets its own.
        const config = join(dir, 'sentinel.conf');
        writeFileSync(
          config,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${name} ${primary.host} ${primary.port} 2`,
            `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
            `sentinel failover-timeout ${name} ${Math.max(5 * downAfterMs, 3000)}`,
            `sentinel parallel-syncs ${name} 1`,
            '',
          ].join('\n'),
        );
        return startServerProcess({
          name: `redis sentinel ${index}`,
          command: binary,
          args: [config, '--sentinel'],
          logFile: join(dir, 'sentinel.log'),
          probe: (pid) => probeOwnRedis(port, pid),
        });
      });
      const sentinel = { host: '127.0.0.1', port, process };
      sentinels.push(sentinel);
      started.push(sentinel);
    }
    // Ready once each Sentinel knows the replica and the other two Sentinels.
    for (const sentinel of sentinels) {
      await waitForAnswer(sentinel.port, ['SENTINEL', 'MASTER', name], (answer) => /num-other-sentinels,2\b/.test(answer) && /num-slaves,1\b/.test(answer), 'the Sentinels finding each other');
    }
    const roles = async () => {
      let found: RedisNodeProcess | undefined;
      await waitForAgreement(async () => {
        const named = await Promise.all(sentinels.map((sentinel) => primaryPortNamedBy(sentinel.port, name)));
        const candidate = [primary, replica].find((node) => named.every((port) => port === node.port));
        found = candidate !== undefined && (await isPrimary(candidate.port)) ? candidate : undefined;
        return found !== undefined;
      }, 'the Sentinels and the data nodes agreeing on one primary');
      return found === primary ? { primary, replica } : { primary: replica, replica: primary };
    };
    return { name, dataNodes: [primary, replica], sentinels, roles, stop: () => stopAll(started) };
  } catch (error) {
    await stopAll(started);
    throw error;
  }
}
