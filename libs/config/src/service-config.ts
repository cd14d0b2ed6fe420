import { z } from 'zod';
import { flag, integer, loadConfig, optionalInteger, url } from './load-config.js';

const MiB = 1024 * 1024;
/**
 * Every upload is held whole in memory (the gateway's buffer, the worker's read and decode)
 * and stored from it in one PutObject; the object store refuses more than its
 * MAX_OBJECT_BYTES (64 MiB), so one upload stays well inside the default memory budget.
 */
const MAX_UPLOAD_BYTES_CEILING = 64 * MiB;
/** The longest lifetime an image can be given, in seconds (100 years): far enough to mean "kept". */
export const LIFETIME_CEILING_SECONDS = 100 * 365 * 24 * 3600;

/** Defaults of the limits in the contract, shared by the gateway and the ingest worker. */
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * MiB;
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
const name = (what: string) =>
  z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, `must be 3-63 lower-case letters, digits or dashes (${what})`);

/** `host:port,host:port`: where the Redis Sentinels or the Redis Cluster's seed nodes listen. */
const hostPortList = z
  .string()
  .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .pipe(z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must be a list of host:port, separated by commas')).min(1))
  .transform((parts) =>
    parts.map((part) => {
      const colon = part.lastIndexOf(':');
      return { host: part.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(part.slice(colon + 1)) };
    }),
  )
  .optional();

/** Where Redis is, and the prefix of every key the services write in it. */
const redisVariables = {
  /** One Redis server; or, instead, the Sentinels of a monitored primary, or a Redis Cluster. */
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_SENTINELS: hostPortList,
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  REDIS_CLUSTER_NODES: hostPortList,
  /** The data nodes' password under Sentinel or Cluster (a single server's is in REDIS_URL). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  // In braces, the prefix is a Redis Cluster hash tag: every key of the queues lands in one slot.
  QUEUE_PREFIX: z
    .string()
    .regex(/^(\{[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\}|[a-z0-9][a-z0-9-]{1,61}[a-z0-9])$/, 'must be 3-63 lower-case letters, digits or dashes, optionally in braces (a BullMQ key prefix)')
    .default('imagehost'),
};

/** The variables every service reads: its backends and where in them its data lives. */
const backendVariables = {
  ...redisVariables,
  MONGO_URL: url(['mongodb:', 'mongodb+srv:']),
  MONGO_DB_NAME: name('a MongoDB database').default('imagehost'),
  S3_ENDPOINT: url(['http:', 'https:']),
  S3_ACCESS_KEY: z.string().min(1),
  S3_SECRET_KEY: z.string().min(1),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: name('an S3 bucket').default('images'),
  /** An S3 call that has not answered (headers) within this, or stalls this long mid-body, fails with 503. */
  S3_TIMEOUT_MS: integer(15_000, 100, 10 * 60_000),
  /** A short Redis command (rate limit, enqueue, lock) unanswered by then fails: a hung Redis must not hold a request. */
  REDIS_DEADLINE_MS: integer(2_000, 50, 60_000),
  LOG_LEVEL: logLevel,
};

/** The ops port and the shutdown bounds, per service (default ports differ so one machine runs all). */
function opsVariables(defaultPort: number) {
  return {
    OPS_HOST: z.string().min(1).default('0.0.0.0'),
    OPS_PORT: integer(defaultPort, 0, 65535),
    SHUTDOWN_DRAIN_MS: integer(5_000, 0, 120_000),
    SHUTDOWN_TIMEOUT_MS: integer(25_000, 1_000, 600_000),
  };
}

function opsFrom(env: { OPS_HOST: string; OPS_PORT: number; SHUTDOWN_DRAIN_MS: number; SHUTDOWN_TIMEOUT_MS: number }) {
  return {
    ops: { host: env.OPS_HOST, port: env.OPS_PORT },
    shutdown: {
      /** Readiness is down this long before intake stops, so load balancers notice first. */
      drainMs: env.SHUTDOWN_DRAIN_MS,
      /** Past this, the process exits whatever is still in flight (below the pod's grace period). */
      timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    },
  };
}

export const DEFAULT_OPS_PORTS = { gateway: 9091, ingest: 9092, reaper: 9093 } as const;
/** The gateway's admin API, apart from both its public and its ops port. */
export const DEFAULT_ADMIN_PORT = 9094;

type RedisEnv = z.output<z.ZodObject<typeof redisVariables>>;
type BackendEnv = z.output<z.ZodObject<typeof backendVariables>>;

/** Where a host:port of a Sentinel or a cluster node is. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** How the services reach Redis: one server, a primary found through Sentinel, or a cluster. */
export type RedisTopology =
  | { readonly kind: 'server'; readonly url: string }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly RedisNode[]; readonly name: string; readonly password: string | undefined }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNode[]; readonly password: string | undefined };

/** Exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES, and a hash-tagged prefix on a cluster. */
function checkRedisTopology(env: RedisEnv, context: z.core.$RefinementCtx<RedisEnv>): void {
  const given = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((variable) => env[variable] !== undefined);
  if (given.length !== 1) {
    const message = given.length === 0 ? 'set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES' : `set only one of ${given.join(', ')}`;
    context.addIssue({ code: 'custom', path: [given[1] ?? 'REDIS_URL'], message });
  }
  if (env.REDIS_CLUSTER_NODES !== undefined && !env.QUEUE_PREFIX.startsWith('{')) {
    context.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: `must be in braces on a Redis Cluster (e.g. {${env.QUEUE_PREFIX}}): BullMQ's scripts need every key of a queue in one hash slot`,
    });
  }
}

function redisTopologyFrom(env: RedisEnv): RedisTopology {
  if (env.REDIS_SENTINELS !== undefined) return { kind: 'sentinel', sentinels: env.REDIS_SENTINELS, name: env.REDIS_SENTINEL_NAME, password: env.REDIS_PASSWORD };
  if (env.REDIS_CLUSTER_NODES !== undefined) return { kind: 'cluster', nodes: env.REDIS_CLUSTER_NODES, password: env.REDIS_PASSWORD };
  if (env.REDIS_URL === undefined) throw new Error('checkRedisTopology lets no configuration without Redis through');
  return { kind: 'server', url: env.REDIS_URL };
}

/**
 * Just the Redis settings of a service's environment (the same variables, checked the same
 * way), for tools that talk to the services' Redis.
 */
export function loadRedisConfig(env: Readonly<Record<string, string | undefined>> = process.env): { redis: RedisTopology; queuePrefix: string } {
  const parsed = loadConfig(z.object(redisVariables).superRefine(checkRedisTopology), env);
  return { redis: redisTopologyFrom(parsed), queuePrefix: parsed.QUEUE_PREFIX };
}

function backendsFrom(env: BackendEnv) {
  return {
    redis: redisTopologyFrom(env),
    redisDeadlineMs: env.REDIS_DEADLINE_MS,
    mongo: { url: env.MONGO_URL, dbName: env.MONGO_DB_NAME },
    s3: {
      endpoint: env.S3_ENDPOINT,
      accessKey: env.S3_ACCESS_KEY,
      secretKey: env.S3_SECRET_KEY,
      region: env.S3_REGION,
      bucket: env.S3_BUCKET,
      timeoutMs: env.S3_TIMEOUT_MS,
    },
    queuePrefix: env.QUEUE_PREFIX,
    logLevel: env.LOG_LEVEL,
  };
}

export type BackendsConfig = ReturnType<typeof backendsFrom>;

/** A service's frozen configuration: its backends, its ops port and shutdown, and its own part. */
function serviceConfig<P extends Parameters<typeof backendsFrom>[0] & Parameters<typeof opsFrom>[0], T extends object>(parsed: P, own: (parsed: P) => T) {
  return Object.freeze({ ...backendsFrom(parsed), ...opsFrom(parsed), ...own(parsed) });
}

const gatewaySchema = z
  .object({
    ...backendVariables,
    ...opsVariables(DEFAULT_OPS_PORTS.gateway),
    HOST: z.string().min(1).default('0.0.0.0'),
    PORT: integer(8080, 0, 65535),
    MAX_UPLOAD_BYTES: integer(DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES_CEILING),
    // RSS grows by about twice the bytes in flight (socket chunks are garbage until the next
    // GC), so this bounds the gateway well below its memory limit (bench/decisions.md#upload-memory-budget).
    UPLOAD_MEMORY_BUDGET_BYTES: integer(96 * MiB, 1, 64 * 1024 * MiB),
    INGEST_WAIT_MS: integer(10_000, 0, 10 * 60_000),
    HEADERS_TIMEOUT_MS: integer(15_000, 100, 10 * 60_000),
    REQUEST_TIMEOUT_MS: integer(120_000, 100, 60 * 60_000),
    UPLOAD_IDLE_TIMEOUT_MS: integer(10_000, 100, 10 * 60_000),
    UPLOADS_IN_PROGRESS_PER_CLIENT: integer(4, 0, 10_000),
    PUBLIC_BASE_URL: url(['http:', 'https:']).optional(),
    VERSION_CACHE_BYTES: integer(32 * MiB, 0, 64 * 1024 * MiB),
    VERSION_CACHE_MAX_ITEM_BYTES: integer(4 * MiB, 0, 1024 * MiB),
    UPLOAD_RATE_LIMIT: integer(60, 0),
    KEY_FAILURE_RATE_LIMIT: integer(30, 0),
    TRUST_PROXY: z.string().min(1).optional(),
    CORS_ORIGINS: z
      .string()
      .refine((value) => value.trim() === '*' || parseOrigins(value) !== undefined, 'must be * or origins (scheme://host[:port]) separated by commas')
      .default('*'),
    QUEUE_DASHBOARD_CREDENTIALS: z.string().regex(/^[^:]+:.{12,}$/, 'must be user:password with a password of 12 or more characters').optional(),
    STRIP_METADATA: flag(true),
    IDEMPOTENCY_TTL_MS: integer(24 * 3600_000, 1000, 7 * 24 * 3600_000),
    MAX_IMAGE_LIFETIME: optionalInteger(1, LIFETIME_CEILING_SECONDS),
    DEFAULT_IMAGE_LIFETIME: optionalInteger(1, LIFETIME_CEILING_SECONDS),
    REPORT_RATE_LIMIT: integer(10, 0),
    REPORT_HIDE_THRESHOLD: integer(0, 0, 1_000_000),
    // The admin API: off unless a token is set. Loopback by default, so only a port-forward
    // (or an operator who opens it on purpose) reaches it, never the public.
    ADMIN_TOKEN: z.string().regex(/^[\x21-\x7e]{32,}$/, 'must be 32 or more printable ASCII characters without spaces (a bearer token)').optional(),
    ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
    ADMIN_PORT: integer(DEFAULT_ADMIN_PORT, 0, 65535),
    // 90 days: evidence some laws require an operator to keep (docs/moderation.md).
    TAKEDOWN_RETENTION_MS: integer(90 * 24 * 3600_000, 1000, 10 * 365 * 24 * 3600_000),
  })
  .superRefine(checkRedisTopology)
  .refine((env) => env.DEFAULT_IMAGE_LIFETIME === undefined || env.MAX_IMAGE_LIFETIME === undefined || env.DEFAULT_IMAGE_LIFETIME <= env.MAX_IMAGE_LIFETIME, {
    path: ['DEFAULT_IMAGE_LIFETIME'],
    message: 'must not exceed MAX_IMAGE_LIFETIME',
  })
  .refine((env) => env.UPLOAD_MEMORY_BUDGET_BYTES >= env.MAX_UPLOAD_BYTES, {
    path: ['UPLOAD_MEMORY_BUDGET_BYTES'],
    message: 'must be at least MAX_UPLOAD_BYTES, or no upload of the largest allowed size could ever be taken',
  })
  .refine((env) => env.HEADERS_TIMEOUT_MS <= env.REQUEST_TIMEOUT_MS, {
    path: ['HEADERS_TIMEOUT_MS'],
    message: 'must not exceed REQUEST_TIMEOUT_MS (the headers are part of the request)',
  });

/** Origins separated by commas, each `scheme://host[:port]` as browsers send it; undefined when one is not. */
function parseOrigins(value: string): string[] | undefined {
  const origins = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const valid = origins.every((origin) => {
    try {
      return /^https?:$/.test(new URL(origin).protocol) && new URL(origin).origin === origin;
    } catch {
      return false;
    }
  });
  return valid && origins.length > 0 ? origins : undefined;
}

function parseTrustProxy(value: string | undefined): string[] | number | false {
  if (value === undefined) return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((part) => part.trim()).filter((part) => part !== '');
}

/** The gateway's configuration: HTTP listener, upload limits, and how long a POST waits for ingest. */
export function loadGatewayConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return serviceConfig(loadConfig(gatewaySchema, env), (parsed) => ({
    host: parsed.HOST,
    port: parsed.PORT,
    maxUploadBytes: parsed.MAX_UPLOAD_BYTES,
    uploadMemoryBudgetBytes: parsed.UPLOAD_MEMORY_BUDGET_BYTES,
    ingestWaitMs: parsed.INGEST_WAIT_MS,
    /**
     * Slow clients are cut off (408): headers must arrive within the first, a whole request
     * within the second, and an upload's next bytes within the third.
     */
    timeouts: { headersMs: parsed.HEADERS_TIMEOUT_MS, requestMs: parsed.REQUEST_TIMEOUT_MS, uploadIdleMs: parsed.UPLOAD_IDLE_TIMEOUT_MS },
    /** Uploads one client address may have in progress on one gateway process; 0 disables. */
    uploadsInProgressPerClient: parsed.UPLOADS_IN_PROGRESS_PER_CLIENT,
    /** Bytes of image versions kept in memory for reads; 0 turns the cache off. */
    versionCacheBytes: parsed.VERSION_CACHE_BYTES,
    versionCacheMaxItemBytes: parsed.VERSION_CACHE_MAX_ITEM_BYTES,
    publicBaseUrl: parsed.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    rateLimits: {
      /** Uploads (POST and PATCH) per client per minute; 0 disables. */
      uploadsPerMinute: parsed.UPLOAD_RATE_LIMIT,
      /** Wrong or missing keys per client per 10 minutes; 0 disables. */
      keyFailuresPer10Minutes: parsed.KEY_FAILURE_RATE_LIMIT,
      /** Abuse reports per client per hour; 0 disables. */
      reportsPerHour: parsed.REPORT_RATE_LIMIT,
    },
    /**
     * How long images live, in seconds: the most a client may ask for (`undefined`: no cap,
     * "never" allowed) and what an upload that asks nothing gets (`undefined`: kept until deleted).
     */
    lifetime: { maxSeconds: parsed.MAX_IMAGE_LIFETIME, defaultSeconds: parsed.DEFAULT_IMAGE_LIFETIME ?? parsed.MAX_IMAGE_LIFETIME },
    /** Distinct clients with an open report on an image that hide it until an operator decides; 0: never hidden automatically. */
    reportHideThreshold: parsed.REPORT_HIDE_THRESHOLD,
    /** Proxies whose X-Forwarded-For is believed (addresses, CIDRs, or a hop count); none by default. */
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    queueDashboardCredentials: parsed.QUEUE_DASHBOARD_CREDENTIALS,
    /** Whether uploads lose their EXIF, XMP, IPTC, comments and PNG text before they are stored. */
    stripMetadata: parsed.STRIP_METADATA,
    /** How long the answer to a POST with an Idempotency-Key is given again to a retry. */
    idempotencyTtlMs: parsed.IDEMPOTENCY_TTL_MS,
    /** Origins whose pages may call POST, PATCH and DELETE (`*`: any); every origin may read. */
    corsWriteOrigins: parsed.CORS_ORIGINS.trim() === '*' ? ('*' as const) : (parseOrigins(parsed.CORS_ORIGINS) ?? []),
    /** The admin API's listener; `undefined` (no listener at all) unless ADMIN_TOKEN is set. */
    admin: parsed.ADMIN_TOKEN === undefined ? undefined : { token: parsed.ADMIN_TOKEN, host: parsed.ADMIN_HOST, port: parsed.ADMIN_PORT },
    /** How long a taken-down image's bytes stay in quarantine (restorable) before the reaper purges them. */
    takedownRetentionMs: parsed.TAKEDOWN_RETENTION_MS,
  }));
}
export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

/** What both queue workers read besides their concurrency. */
const workerVariables = {
  JOB_LOCK_MS: integer(30_000, 1000, 10 * 60_000),
};

function workerFrom(concurrency: number, env: { JOB_LOCK_MS: number }) {
  return {
    concurrency,
    /** A job whose worker stops renewing its lock this long is given to another worker. */
    jobLockMs: env.JOB_LOCK_MS,
  };
}

const ingestSchema = z.object({
  ...backendVariables,
  ...opsVariables(DEFAULT_OPS_PORTS.ingest),
  MAX_UPLOAD_BYTES: integer(DEFAULT_MAX_UPLOAD_BYTES, 1, MAX_UPLOAD_BYTES_CEILING),
  MAX_IMAGE_PIXELS: integer(DEFAULT_MAX_IMAGE_PIXELS, 1, 1_000_000_000),
  // The largest canvas side browsers render: a longer side is refused whatever its pixel count.
  MAX_IMAGE_SIDE: integer(32_767, 1, 1_000_000_000),
  // Half of a job waits on S3, MongoDB and Redis: a few at once keep the cores busy
  // (bench/decisions.md#ingest-concurrency).
  INGEST_CONCURRENCY: integer(4, 1, 64),
  SUPERSEDED_REAP_DELAY_MS: integer(10_000, 0, 24 * 3600_000),
  // At most the blocklist's MAX_PERCEPTUAL_DISTANCE (@imagehost/db): its entries carry bands up to it.
  // 8 with dHash and pHash both required (docs/moderation.md#recommended-threshold).
  PERCEPTUAL_MATCH_DISTANCE: integer(8, 0, 10),
  ...workerVariables,
}).superRefine(checkRedisTopology);

/** The ingest worker's configuration: the image limits it enforces and how many jobs it runs at once. */
export function loadIngestConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return serviceConfig(loadConfig(ingestSchema, env), (parsed) => ({
    maxUploadBytes: parsed.MAX_UPLOAD_BYTES,
    maxImagePixels: parsed.MAX_IMAGE_PIXELS,
    maxImageSide: parsed.MAX_IMAGE_SIDE,
    ...workerFrom(parsed.INGEST_CONCURRENCY, parsed),
    /** How long a replaced version stays readable for GETs that looked it up just before. */
    supersededReapDelayMs: parsed.SUPERSEDED_REAP_DELAY_MS,
    /** Bits by which an upload's dHash and pHash may each differ from a blocked entry's and still match. */
    perceptualMatchDistance: parsed.PERCEPTUAL_MATCH_DISTANCE,
  }));
}
export type IngestConfig = ReturnType<typeof loadIngestConfig>;

const reaperSchema = z.object({
  ...backendVariables,
  ...opsVariables(DEFAULT_OPS_PORTS.reaper),
  REAP_CONCURRENCY: integer(4, 1, 64),
  SWEEP_INTERVAL_MS: integer(5 * 60_000, 1000, 24 * 3600_000),
  SWEEP_GRACE_MS: integer(15 * 60_000, 1000, 7 * 24 * 3600_000),
  EXPIRY_SWEEP_INTERVAL_MS: integer(30_000, 1000, 3600_000),
  ...workerVariables,
}).superRefine(checkRedisTopology);

/** The reaper's configuration. */
export function loadReaperConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return serviceConfig(loadConfig(reaperSchema, env), (parsed) => ({
    ...workerFrom(parsed.REAP_CONCURRENCY, parsed),
    sweepIntervalMs: parsed.SWEEP_INTERVAL_MS,
    /** What the sweep leaves alone: anything younger than this may still be in flight. */
    sweepGraceMs: parsed.SWEEP_GRACE_MS,
    /** One purge of expired images per interval across all reapers. */
    expirySweepIntervalMs: parsed.EXPIRY_SWEEP_INTERVAL_MS,
  }));
}
export type ReaperConfig = ReturnType<typeof loadReaperConfig>;

/** The services whose configuration this package loads. */
export const SERVICE_NAMES = ['gateway', 'ingest', 'reaper'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** One environment variable of one service, as the configuration reference describes it. */
export interface VariableSpec {
  /** Start-up stops when it is unset. */
  readonly required: boolean;
  /** The value used when it is unset, as it would be written in the environment; `undefined` when there is none. */
  readonly defaultValue: string | undefined;
}

/** What the schema of one variable does with an unset value: stop, fall back to a default, or leave it unset. */
function specOf(schema: z.ZodType): VariableSpec {
  const unset = schema.safeParse(undefined);
  if (!unset.success) return { required: true, defaultValue: undefined };
  const value: unknown = unset.data;
  if (value === undefined) return { required: false, defaultValue: undefined };
  if (typeof value === 'boolean') return { required: false, defaultValue: String(value) };
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`a default of type ${typeof value} has no environment form`);
  return { required: false, defaultValue: String(value) };
}

/**
 * Every environment variable each service reads, with its default, derived from the schemas
 * the loaders parse with, so the configuration reference (docs/configuration.md) can be
 * checked against the code instead of copied from it.
 */
export function describeServiceVariables(): Readonly<Record<ServiceName, Readonly<Record<string, VariableSpec>>>> {
  const variablesOf = (schema: { readonly shape: Readonly<Record<string, z.ZodType>> }): Record<string, VariableSpec> =>
    Object.fromEntries(Object.entries(schema.shape).map(([name, field]) => [name, specOf(field)]));
  return { gateway: variablesOf(gatewaySchema), ingest: variablesOf(ingestSchema), reaper: variablesOf(reaperSchema) };
}
