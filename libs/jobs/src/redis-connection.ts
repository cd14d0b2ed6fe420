import type { RedisTopology } from '@imagehost/config';
import type { ConnectionOptions } from 'bullmq';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

// The one place that turns the configured Redis topology (one server, Sentinel, Cluster) into
// ioredis clients and BullMQ connections; every service, the rate limiter, the sweep lock and
// the readiness checks connect through here.

/** A client of whichever topology is configured: a server or Sentinel primary, or a cluster. */
export type RedisClient = Redis | Cluster;

/** Per-connection options, the same for every topology (on a cluster, for each node's connection). */
export interface RedisClientOptions {
  /** `false`: a command sent while disconnected fails at once instead of waiting. */
  readonly enableOfflineQueue?: boolean;
  /** `null`: a command waits through reconnections (BullMQ's blocking reads need it). */
  readonly maxRetriesPerRequest: number | null;
  readonly connectTimeout?: number;
  /** A command unanswered by then fails (a hung Redis); for short commands only, never BullMQ's blocking reads. */
  readonly commandTimeout?: number;
}

/** Options that find the primary through the Sentinels, with the data nodes' password. */
function sentinelOptions(topology: Extract<RedisTopology, { kind: 'sentinel' }>, options: RedisClientOptions): RedisOptions {
  return {
    ...options,
    sentinels: topology.sentinels.map((node) => ({ ...node })),
    name: topology.name,
    ...(topology.password === undefined ? {} : { password: topology.password }),
  };
}

function createCluster(topology: Extract<RedisTopology, { kind: 'cluster' }>, options: RedisClientOptions): Cluster {
  const { enableOfflineQueue, ...perNode } = options;
  return new Cluster(
    topology.nodes.map((node) => ({ ...node })),
    {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: { ...perNode, ...(topology.password === undefined ? {} : { password: topology.password }) },
    },
  );
}

function createRedisClient(topology: RedisTopology, options: RedisClientOptions): RedisClient {
  switch (topology.kind) {
    case 'server':
      return new Redis(topology.url, options);
    case 'sentinel':
      return new Redis(sentinelOptions(topology, options));
    case 'cluster':
      return createCluster(topology, options);
  }
}

/**
 * What to hand BullMQ for one Queue, Worker or QueueEvents. A server or Sentinel primary is
 * given as options (BullMQ connects and closes it itself). BullMQ reaches a cluster only
 * through a Cluster instance, which it never closes: `release` closes it after its owner.
 */
export function bullmqConnection(topology: RedisTopology, options: RedisClientOptions): { connection: ConnectionOptions; release?: () => Promise<void> } {
  switch (topology.kind) {
    case 'server':
      return { connection: { url: topology.url, ...options } };
    case 'sentinel':
      return { connection: sentinelOptions(topology, options) };
    case 'cluster': {
      const cluster = createCluster(topology, options);
      return {
        connection: cluster,
        release: async () => {
          await cluster.quit().catch(() => cluster.disconnect());
        },
      };
    }
  }
}

/**
 * A client for short commands outside BullMQ (readiness, rate limits, locks, idempotency
 * records) that fails at once while Redis is away instead of queueing commands, and after
 * `deadlineMs` (REDIS_DEADLINE_MS) while it hangs: a request must not wait on it.
 */
export function connectRedisFailFast(topology: RedisTopology, deadlineMs: number): RedisClient {
  const redis = createRedisClient(topology, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: deadlineMs });
  // Errors reach the callers of each command; the connection itself keeps retrying quietly.
  redis.on('error', () => undefined);
  return redis;
}
