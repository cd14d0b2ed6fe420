import type { Registry } from 'prom-client';
import type { BackendsConfig } from '@imagehost/config';
import { BlocklistRepository, ImageRepository, ReportRepository, connectDatabase } from '@imagehost/db';
import { connectRedisFailFast, createIngestQueue, createReapQueue, type IngestQueue, type QueueConnection, type ReapQueue, type RedisClient } from '@imagehost/jobs';
import type { Logger } from '@imagehost/logging';
import { ObjectStore } from '@imagehost/storage';
import { createBackendCallMetrics, type BackendCallObserver } from './metrics.js';
import { backendChecks, type ReadinessCheck } from './ops-server.js';
import { prepareInBackground } from './prepare-in-background.js';
import { queueTelemetry, stopTracing } from './tracing.js';

/** What every service holds of its backends, connected the same way in each `main.ts`. */
export interface ServiceBackends {
  readonly images: ImageRepository;
  /** Abuse reports (the moderation queue). */
  readonly reports: ReportRepository;
  /** The content blocklist, on the same MongoDB connection. */
  readonly blocklist: BlocklistRepository;
  readonly objects: ObjectStore;
  readonly queueConnection: QueueConnection;
  readonly ingestQueue: IngestQueue;
  readonly reapQueue: ReapQueue;
  /** For short commands outside BullMQ (readiness, rate limits, locks); fails fast. */
  readonly redis: RedisClient;
  /** Records a Redis call a request waits on (`observeRedisCall`); undefined without a registry. */
  readonly observeRedisCall: BackendCallObserver | undefined;
  /**
   * Starts the start-up work in the background (indexes, the bucket, and `alsoPrepare`) and
   * returns the readiness checks: every backend answers and that work is done. A backend that
   * is down at start makes the service not ready rather than crash-looping.
   */
  prepareInBackground(alsoPrepare?: () => Promise<unknown>): readonly ReadinessCheck[];
  /** Closes the queues, the database and Redis (after the service stopped its own work). */
  close(): Promise<void>;
}

/**
 * Connects a service to MongoDB, S3 and Redis (both queues and a fail-fast client); with a
 * registry, every MongoDB and S3 call is timed into it.
 */
export function connectBackends(config: BackendsConfig, log: Logger, registry?: Registry): ServiceBackends {
  const calls = registry === undefined ? undefined : createBackendCallMetrics(registry);
  const connection = connectDatabase(config.mongo);
  const images = new ImageRepository(connection, calls?.mongodb);
  const reports = new ReportRepository(connection, calls?.mongodb);
  const blocklist = new BlocklistRepository(connection, calls?.mongodb);
  const objects = new ObjectStore(config.s3, calls?.s3);
  const queueConnection = { redis: config.redis, prefix: config.queuePrefix, telemetry: queueTelemetry() };
  const ingestQueue = createIngestQueue(queueConnection);
  const reapQueue = createReapQueue(queueConnection);
  const redis = connectRedisFailFast(config.redis, config.redisDeadlineMs);
  return {
    images,
    reports,
    blocklist,
    objects,
    queueConnection,
    ingestQueue,
    reapQueue,
    redis,
    observeRedisCall: calls?.redis,
    prepareInBackground: (alsoPrepare) => [
      ...backendChecks({ redis, images, objects }),
      prepareInBackground(log, 'preparing the backends', () => Promise.all([images.prepare(), blocklist.prepare(), reports.prepare(), objects.ensureBucket(), alsoPrepare?.()])),
    ],
    close: async () => {
      await Promise.allSettled([ingestQueue.close(), reapQueue.close(), connection.close()]);
      redis.disconnect();
      await stopTracing();
    },
  };
}
