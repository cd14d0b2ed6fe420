import { Queue, QueueEvents, Worker, type JobsOptions, type Processor, type Telemetry, type WorkerOptions } from 'bullmq';
import { z } from 'zod';
import type { RedisTopology } from '@imagehost/config';
import { AppError } from '@imagehost/errors';
import { isImageKey, isObjectKey, isSha256Hex, isVersionId } from '@imagehost/keys';
import { bullmqConnection, type RedisClientOptions } from './redis-connection.js';

// The one definition of every queue: its name, payload and result. Producers and consumers
// import these; payloads are validated again when consumed. Queue names live in Redis, so
// renaming one is a migration, not a refactor.

const imageKey = z.string().refine(isImageKey, 'not an image key');
const versionId = z.string().refine(isVersionId, 'not a version id');
const objectKey = z.string().refine(isObjectKey, 'not an image object key');
const keyHash = z.string().refine(isSha256Hex, 'not a SHA-256 hex digest');
/** The id of the HTTP request that produced the job, for its log lines (X-Request-Id). */
const requestId = z.string().max(64).optional();

/** `ingest`: validate an uploaded version and record it. Carries hashes, never keys or bytes. */
export const INGEST_QUEUE = 'ingest';

const newVersion = {
  imageKey,
  versionId,
  objectKey,
  /** Hashes of the keys handed to the client with this version. */
  deleteKeyHash: keyHash,
  updateKeyHash: keyHash,
  /** When the gateway accepted the upload (ms since epoch): the version's Last-Modified. */
  acceptedAt: z.number().int().nonnegative(),
  /**
   * When the image expires (ms since epoch), `null` for never. Absent (a job from before
   * expiry existed): a new image never expires, a replacement keeps the image's expiry.
   */
  expiresAt: z.number().int().nonnegative().nullable().optional(),
  requestId,
  /** SHA-256 of the bytes as uploaded, before metadata stripping (absent from older producers). */
  uploadedSha256: keyHash.optional(),
};

export const ingestJobSchema = z.discriminatedUnion('kind', [
  /** A new image (`POST /`). */
  z.object({ kind: z.literal('create'), ...newVersion }),
  /**
   * A replacement (`PATCH`): applied only while the image's update key still hashes to
   * `expectedUpdateKeyHash` and the image is not deleted — the compare-and-set that gives
   * concurrent PATCHes and DELETEs a single winner.
   */
  z.object({ kind: z.literal('replace'), ...newVersion, expectedUpdateKeyHash: keyHash }),
]);
export type IngestJobData = z.infer<typeof ingestJobSchema>;

/**
 * The S3 user metadata under which an uploaded version object carries its own ingest job, so
 * a job lost with Redis's data can be enqueued again from the object alone (the sweep does).
 * Only hashes and ids: nothing in it is a secret.
 */
const INGEST_JOB_METADATA = 'ingest-job';

export function ingestJobMetadata(data: IngestJobData): Record<string, string> {
  return { [INGEST_JOB_METADATA]: JSON.stringify(data) };
}

/** The ingest job an object was uploaded with; `undefined` when it carries none (or a broken one). */
export function ingestJobFromMetadata(metadata: Readonly<Record<string, string>>): IngestJobData | undefined {
  const text = metadata[INGEST_JOB_METADATA];
  if (text === undefined) return undefined;
  try {
    const parsed = ingestJobSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The version an ingest recorded. */
export interface IngestedImage {
  readonly imageKey: string;
  readonly versionId: string;
  readonly contentType: 'image/jpeg' | 'image/png';
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly sha256: string;
}

/** What a successful ingest reports back to the waiting gateway. */
export interface IngestJobResult extends IngestedImage {
  /** Time the worker spent on the job; the rest of the gateway's wait is the queue's cost. */
  readonly workMs: number;
}

/**
 * `reap`: remove for good what must not stay — one version object (a refused upload, a
 * replaced version), a deleted image (all its objects, then its record), or everything a
 * lost job left behind and every takedown past its retention (`sweep`, scheduled).
 */
export const REAP_QUEUE = 'reap';

export const reapJobSchema = z.discriminatedUnion('target', [
  z.object({ target: z.literal('object'), objectKey, reason: z.enum(['refused', 'superseded', 'raced']) }),
  z.object({ target: z.literal('image'), imageKey, requestId }),
  z.object({ target: z.literal('sweep') }),
  /** Scheduled, more often than `sweep`: purges the images whose expiry has passed. */
  z.object({ target: z.literal('expire') }),
]);
export type ReapJobData = z.infer<typeof reapJobSchema>;
export interface ReapJobResult {
  readonly removedObjects: number;
  readonly removedRecords: number;
  /** Uploads whose lost ingest job the sweep enqueued again. */
  readonly reingested?: number;
  /** Images the expiry sweep found past their expiry and purged. */
  readonly expired?: number;
  /** Versions of taken-down images the sweep moved to quarantine (a takedown that failed halfway). */
  readonly quarantined?: number;
}

/** The id of the scheduler that adds one `sweep` job per interval, whatever the number of reapers. */
export const SWEEP_SCHEDULER_ID = 'sweep';
/** The id of the scheduler that adds one `expire` job per interval. */
export const EXPIRY_SCHEDULER_ID = 'expire';

export type IngestQueue = Queue<IngestJobData, IngestJobResult, 'ingest'>;
/** Job names on the reap queue: one-off removals, and the scheduled sweep and expiry purge. */
export type ReapJobName = 'reap' | 'sweep' | 'expire';
/** The names of the reap queue's scheduled jobs, which always stand in the queue. */
export const SCHEDULED_REAP_JOBS: readonly ReapJobName[] = ['sweep', 'expire'];
export type ReapQueue = Queue<ReapJobData, ReapJobResult, ReapJobName>;

/** Job ids are deterministic, so a producer retrying an add cannot create a second job. */
export function ingestJobId(data: Pick<IngestJobData, 'imageKey' | 'versionId'>): string {
  // BullMQ reserves ':' in ids; image keys and version ids never contain '.'.
  return `${data.imageKey}.${data.versionId}`;
}

export function reapJobId(data: Exclude<ReapJobData, { target: 'sweep' | 'expire' }>): string {
  switch (data.target) {
    case 'object':
      return `object.${data.objectKey.replaceAll('/', '.')}`;
    case 'image':
      return `image.${data.imageKey}`;
  }
}

export const INGEST_JOB_OPTIONS: JobsOptions = {
  // Retries are for backend outages; refusals are UnrecoverableError and never retried.
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  // The gateway removes a job once it has its result; these bounds catch the rest.
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
};

export const REAP_JOB_OPTIONS: JobsOptions = {
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface QueueConnection {
  readonly redis: RedisTopology;
  /** Every key of the queues starts with it; in braces on a Redis Cluster. */
  readonly prefix: string;
  /** While tracing is on: a job carries its producer's trace context to its worker. */
  readonly telemetry?: Telemetry | undefined;
}

// BullMQ workers need `maxRetriesPerRequest: null`: blocking commands must not time out.
const WAITING: RedisClientOptions = { maxRetriesPerRequest: null };
// A producer's add fails at once while Redis is away: the request answers 503 instead of hanging.
const FAIL_FAST: RedisClientOptions = { ...WAITING, enableOfflineQueue: false };

/**
 * Builds a BullMQ object on its own connection, which is closed with it (BullMQ leaves a
 * handed-over Cluster instance open, see `bullmqConnection`).
 */
function withConnection<T extends { close(force?: boolean): Promise<void> }>(
  connection: QueueConnection,
  options: RedisClientOptions,
  build: (handed: ReturnType<typeof bullmqConnection>['connection']) => T,
): T {
  const { connection: handed, release } = bullmqConnection(connection.redis, options);
  const owner = build(handed);
  if (release === undefined) return owner;
  const close = owner.close.bind(owner);
  return Object.assign(owner, {
    close: async (force?: boolean) => {
      try {
        await close(force);
      } finally {
        await release();
      }
    },
  });
}

export function createIngestQueue(connection: QueueConnection): IngestQueue {
  return withConnection(
    connection,
    FAIL_FAST,
    (handed) => new Queue<IngestJobData, IngestJobResult, 'ingest'>(INGEST_QUEUE, { connection: handed, prefix: connection.prefix, telemetry: connection.telemetry, defaultJobOptions: INGEST_JOB_OPTIONS }),
  );
}

export function createIngestQueueEvents(connection: QueueConnection): QueueEvents {
  return withConnection(connection, WAITING, (handed) => new QueueEvents(INGEST_QUEUE, { connection: handed, prefix: connection.prefix }));
}

export function createReapQueue(connection: QueueConnection): ReapQueue {
  return withConnection(
    connection,
    FAIL_FAST,
    (handed) => new Queue<ReapJobData, ReapJobResult, ReapJobName>(REAP_QUEUE, { connection: handed, prefix: connection.prefix, telemetry: connection.telemetry, defaultJobOptions: REAP_JOB_OPTIONS }),
  );
}

/** Queues the ingest of an uploaded version under its deterministic id (adding it twice is a no-op). */
export async function enqueueIngest(queue: IngestQueue, data: IngestJobData): Promise<Awaited<ReturnType<IngestQueue['add']>>> {
  return queue.add('ingest', data, { jobId: ingestJobId(data) });
}

/** Asks the reaper to remove something, after `delayMs` when given. */
export async function enqueueReap(queue: ReapQueue, data: Exclude<ReapJobData, { target: 'sweep' | 'expire' }>, delayMs = 0): Promise<void> {
  await queue.add('reap', data, { jobId: reapJobId(data), delay: delayMs });
}

/**
 * Payload validation on consume: a job that does not match its schema (an old producer, a
 * hand-edited job) fails at once instead of reaching the handler.
 */
export function parseJobData<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(data);
  if (!result.success) {
    throw new AppError('BAD_REQUEST', `invalid job payload: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

export function createWorker<Data, Result, Name extends string>(
  queueName: string,
  connection: QueueConnection,
  processor: Processor<Data, Result, Name>,
  options: Omit<WorkerOptions, 'connection' | 'prefix'> = {},
): Worker<Data, Result, Name> {
  return withConnection(connection, WAITING, (handed) => new Worker<Data, Result, Name>(queueName, processor, { ...options, connection: handed, prefix: connection.prefix, telemetry: connection.telemetry }));
}
