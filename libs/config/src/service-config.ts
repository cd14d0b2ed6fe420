import { z } from 'zod';
import { integer, loadConfig, url } from './load-config.js';

const MiB = 1024 * 1024;
/** Every upload is stored in one PutObject, which the S3 client does up to 64 MiB. */
const MAX_UPLOAD_BYTES_CEILING = 64 * MiB;

/** Defaults of the limits in the contract, shared by the gateway and the ingest worker. */
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * MiB;
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
const name = (what: string) =>
  z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, `must be 3-63 lower-case letters, digits or dashes (${what})`);

/** The variables every service reads: its backends and where in them its data lives. */
const backendVariables = {
  REDIS_URL: url(['redis:', 'rediss:']),
  MONGO_URL: url(['mongodb:', 'mongodb+srv:']),
  MONGO_DB_NAME: name('a MongoDB database').default('imagehost'),
  S3_ENDPOINT: url(['http:', 'https:']),
  S3_ACCESS_KEY: z.string().min(1),
  S3_SECRET_KEY: z.string().min(1),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: name('an S3 bucket').default('images'),
  QUEUE_PREFIX: name('a BullMQ key prefix').default('imagehost'),
  LOG_LEVEL: logLevel,
};

function backendsFrom(env: z.output<z.ZodObject<typeof backendVariables>>) {
  return {
    redisUrl: env.REDIS_URL,
    mongo: { url: env.MONGO_URL, dbName: env.MONGO_DB_NAME },
    s3: {
      endpoint: env.S3_ENDPOINT,
      accessKey: env.S3_ACCESS_KEY,
      secretKey: env.S3_SECRET_KEY,
      region: env.S3_REGION,
      bucket: env.S3_BUCKET,
    },
    queuePrefix: env.QUEUE_PREFIX,
    logLevel: env.LOG_LEVEL,
  };
}

export type BackendsConfig = ReturnType<typeof backendsFrom>;

const gatewaySchema = z
  .object({
    ...backendVariables,
    HOST: z.string().min(1).default('0.0.0.0'),
    PORT: integer(8080, 0, 65535),
    MAX_UPLOAD_BYTES: integer(DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES_CEILING),
    UPLOAD_MEMORY_BUDGET_BYTES: integer(160 * MiB, 1, 64 * 1024 * MiB),
    INGEST_WAIT_MS: integer(10_000, 0, 10 * 60_000),
    PUBLIC_BASE_URL: url(['http:', 'https:']).optional(),
  })
  .refine((env) => env.UPLOAD_MEMORY_BUDGET_BYTES >= env.MAX_UPLOAD_BYTES, {
    path: ['UPLOAD_MEMORY_BUDGET_BYTES'],
    message: 'must be at least MAX_UPLOAD_BYTES, or no upload of the largest allowed size could ever be taken',
  });

/** The gateway's configuration: HTTP listener, upload limits, and how long a POST waits for ingest. */
export function loadGatewayConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  const parsed = loadConfig(gatewaySchema, env);
  return Object.freeze({
    ...backendsFrom(parsed),
    host: parsed.HOST,
    port: parsed.PORT,
    maxUploadBytes: parsed.MAX_UPLOAD_BYTES,
    uploadMemoryBudgetBytes: parsed.UPLOAD_MEMORY_BUDGET_BYTES,
    ingestWaitMs: parsed.INGEST_WAIT_MS,
    publicBaseUrl: parsed.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
  });
}
export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

const ingestSchema = z.object({
  ...backendVariables,
  MAX_UPLOAD_BYTES: integer(DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES_CEILING),
  MAX_IMAGE_PIXELS: integer(DEFAULT_MAX_IMAGE_PIXELS, 1, 1_000_000_000),
  INGEST_CONCURRENCY: integer(2, 1, 64),
  SUPERSEDED_REAP_DELAY_MS: integer(10_000, 0, 24 * 3600_000),
  JOB_LOCK_MS: integer(30_000, 1000, 10 * 60_000),
});

/** The ingest worker's configuration: the image limits it enforces and how many jobs it runs at once. */
export function loadIngestConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  const parsed = loadConfig(ingestSchema, env);
  return Object.freeze({
    ...backendsFrom(parsed),
    maxUploadBytes: parsed.MAX_UPLOAD_BYTES,
    maxImagePixels: parsed.MAX_IMAGE_PIXELS,
    concurrency: parsed.INGEST_CONCURRENCY,
    /** How long a replaced version stays readable for GETs that looked it up just before. */
    supersededReapDelayMs: parsed.SUPERSEDED_REAP_DELAY_MS,
    /** A job whose worker stops renewing its lock this long is given to another worker. */
    jobLockMs: parsed.JOB_LOCK_MS,
  });
}
export type IngestConfig = ReturnType<typeof loadIngestConfig>;

const reaperSchema = z.object({
  ...backendVariables,
  REAP_CONCURRENCY: integer(4, 1, 64),
  SWEEP_INTERVAL_MS: integer(5 * 60_000, 1000, 24 * 3600_000),
  SWEEP_GRACE_MS: integer(15 * 60_000, 1000, 7 * 24 * 3600_000),
  JOB_LOCK_MS: integer(30_000, 1000, 10 * 60_000),
});

/** The reaper's configuration. */
export function loadReaperConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  const parsed = loadConfig(reaperSchema, env);
  return Object.freeze({
    ...backendsFrom(parsed),
    concurrency: parsed.REAP_CONCURRENCY,
    sweepIntervalMs: parsed.SWEEP_INTERVAL_MS,
    /** What the sweep leaves alone: anything younger than this may still be in flight. */
    sweepGraceMs: parsed.SWEEP_GRACE_MS,
    jobLockMs: parsed.JOB_LOCK_MS,
  });
}
export type ReaperConfig = ReturnType<typeof loadReaperConfig>;
