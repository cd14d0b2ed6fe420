import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { backendEnvironment, freePort, type S3Settings } from '@imagehost/backends';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { errorMessage } from '@imagehost/errors';
import { loadRedisConfig, type RedisTopology } from '@imagehost/config';
import { INGEST_QUEUE, REAP_QUEUE, SCHEDULED_REAP_JOBS, bullmqConnection, type ReapJobName } from '@imagehost/jobs';
import { parseQuarantineKey, quarantineKeyFor } from '@imagehost/keys';
import { ObjectStore } from '@imagehost/storage';
import { Queue } from 'bullmq';
import type { Connection } from 'mongoose';
import { testBackendSettings, uniqueName } from './backend-settings.js';
import { testRunMarker } from './leftover-processes.js';
import { waitFor } from './wait-for.js';

export type ServiceName = 'gateway' | 'ingest' | 'reaper';

const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused', 'prioritized', 'waiting-children'] as const;

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function serviceEntry(name: ServiceName): string {
  const entry = `${REPO_ROOT}services/${name}/dist/main.js`;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  return entry;
}

const SLOW_STEP_MS = 5_000;
const STEP_LIMIT_MS = 20_000;

/** Runs one teardown step for at most STEP_LIMIT_MS, saying on stderr when it was slow or cut short. */
async function boundedStep(what: string, step: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'cut'>((resolve) => {
    timer = setTimeout(() => resolve('cut'), STEP_LIMIT_MS);
  });
  const outcome = await Promise.race([step().then(() => 'done' as const), limit]);
  clearTimeout(timer);
  const tookMs = Date.now() - started;
  if (outcome === 'cut') process.stderr.write(`[stack] ${what}: gave up after ${tookMs} ms\n`);
  else if (tookMs > SLOW_STEP_MS) process.stderr.write(`[stack] ${what}: took ${tookMs} ms\n`);
}

/** A service process started by a test, with every line it logged. */
export class ServiceProcess {
  readonly lines: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: ServiceName,
    readonly child: ChildProcess,
    /** Where its /metrics, /healthz and /readyz answer. */
    readonly opsUrl: string,
  ) {
    const collect = (stream: NodeJS.ReadableStream | null) => {
      if (stream !== null) createInterface({ input: stream }).on('line', (line) => this.lines.push(line));
    };
    collect(child.stdout);
    collect(child.stderr);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }

  /** Log lines parsed as JSON (pino), skipping anything else. */
  logs(): Record<string, unknown>[] {
    return this.lines.flatMap((line): Record<string, unknown>[] => {
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  async waitUntilReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.logs().some((entry) => entry.msg === 'ready')) return;
      if (this.exitInfo !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${this.name} did not become ready (exit: ${JSON.stringify(this.exitInfo)}); it logged:\n${this.lines.slice(-30).join('\n')}`);
  }

  /**
   * Waits until its /readyz answers 200: every backend answers and its start-up work is done.
   * The gateway logs `ready` once it listens, which may be before then.
   */
  async waitUntilServing(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const status = await fetch(`${this.opsUrl}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status, () => 0);
      if (status === 200) return;
      if (this.exitInfo !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${this.name} did not become ready to serve (exit: ${JSON.stringify(this.exitInfo)}); it logged:\n${this.lines.slice(-30).join('\n')}`);
  }

  /** Sends `signal` and waits for the process to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    if (this.exitInfo !== undefined) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** One more gateway process of a stack, on its own public and admin ports. */
export interface GatewayProcess {
  readonly service: ServiceProcess;
  readonly baseUrl: string;
  /** Where its admin API listens (when ADMIN_TOKEN is set). */
  readonly adminUrl: string;
  url(path: string): string;
}

export interface StackOptions {
  /** Services to start right away (default: all three). */
  readonly services?: readonly ServiceName[];
  /** Extra environment for every service, e.g. `MAX_UPLOAD_BYTES`. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Redis variables (`REDIS_SENTINELS`, `REDIS_CLUSTER_NODES`…) that replace the suite's
   * single server, for the services and for the stack's own view of the queues.
   */
  readonly redisEnv?: Readonly<Record<string, string>>;
  /** An S3 server that replaces the suite's, for the services and the stack's own view of the bucket. */
  readonly s3?: Omit<S3Settings, 'bucket'>;
}

/**
 * The real gateway, ingest and reaper processes on the suite's backends, isolated from
 * every other test by their own database, bucket and queue prefix; plus direct views of
 * what they leave in MongoDB, S3 and Redis, for assertions.
 */
export class TestStack {
  readonly processes: ServiceProcess[] = [];
  readonly objects: ObjectStore;
  readonly images: ImageRepository;
  readonly ingestQueue: Queue;
  readonly reapQueue: Queue;
  private readonly connection: Connection;
  private readonly releaseQueueConnections: () => Promise<void>;

  private constructor(
    readonly env: Readonly<Record<string, string>>,
    readonly baseUrl: string,
    redis: RedisTopology,
    s3: Omit<S3Settings, 'bucket'>,
  ) {
    const settings = testBackendSettings();
    this.objects = new ObjectStore({ ...s3, bucket: env.S3_BUCKET ?? '' });
    this.connection = connectDatabase({ url: settings.mongoUrl, dbName: env.MONGO_DB_NAME ?? '' });
    this.images = new ImageRepository(this.connection);
    const [ingest, reap] = [bullmqConnection(redis, { maxRetriesPerRequest: null }), bullmqConnection(redis, { maxRetriesPerRequest: null })];
    this.ingestQueue = new Queue(INGEST_QUEUE, { connection: ingest.connection, prefix: env.QUEUE_PREFIX ?? '' });
    this.reapQueue = new Queue(REAP_QUEUE, { connection: reap.connection, prefix: env.QUEUE_PREFIX ?? '' });
    this.releaseQueueConnections = async () => {
      await Promise.allSettled([ingest.release?.(), reap.release?.()]);
    };
  }

  static async start(options: StackOptions = {}): Promise<TestStack> {
    const suite = testBackendSettings();
    const settings = options.s3 === undefined ? suite : { ...suite, s3: { ...options.s3, bucket: suite.s3.bucket } };
    const port = await freePort();
    const env = {
      ...backendEnvironment(settings),
      ...(options.redisEnv === undefined ? {} : { REDIS_URL: '', ...options.redisEnv }),
      S3_BUCKET: uniqueName('bucket'),
      MONGO_DB_NAME: uniqueName('db'),
      QUEUE_PREFIX: uniqueName('q'),
      HOST: '127.0.0.1',
      PORT: String(port),
      OPS_HOST: '127.0.0.1',
      SHUTDOWN_DRAIN_MS: '0',
      // Tests drive many requests from one address; the tests of per-client limits turn these back on.
      UPLOAD_RATE_LIMIT: '0',
      KEY_FAILURE_RATE_LIMIT: '0',
      UPLOADS_IN_PROGRESS_PER_CLIENT: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    };
    const redis = options.redisEnv === undefined ? ({ kind: 'server', url: settings.redisUrl } as const) : loadRedisConfig(env).redis;
    const stack = new TestStack(env, `http://127.0.0.1:${port}`, redis, settings.s3);
    await stack.objects.ensureBucket();
    try {
      for (const name of options.services ?? ['gateway', 'ingest', 'reaper']) await stack.startService(name);
      // A fresh stack is a healthy one: tests start from every process serving.
      for (const service of stack.processes) await service.waitUntilServing();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Starts one more process of `name` (a second worker, or a restart) and waits until it is ready. */
  async startService(name: ServiceName, extraEnv: Readonly<Record<string, string>> = {}): Promise<ServiceProcess> {
    const opsPort = await freePort();
    const child = spawn(process.execPath, ['--enable-source-maps', serviceEntry(name)], {
      env: { PATH: process.env.PATH, ...testRunMarker(), ...this.env, OPS_PORT: String(opsPort), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(name, child, `http://127.0.0.1:${opsPort}`);
    this.processes.push(service);
    await service.waitUntilReady();
    return service;
  }

  /**
   * Starts another gateway replica on the stack's backends, on ports of its own (the stack's
   * own gateway, if any, keeps `baseUrl`), and waits until it serves.
   */
  async startGateway(extraEnv: Readonly<Record<string, string>> = {}): Promise<GatewayProcess> {
    const [port, adminPort] = [await freePort(), await freePort()];
    const service = await this.startService('gateway', { PORT: String(port), ADMIN_PORT: String(adminPort), ...extraEnv });
    await service.waitUntilServing();
    const baseUrl = `http://127.0.0.1:${port}`;
    return { service, baseUrl, adminUrl: `http://127.0.0.1:${adminPort}`, url: (path) => `${baseUrl}${path}` };
  }

  service(name: ServiceName): ServiceProcess {
    const found = this.processes.find((p) => p.name === name && p.exit === undefined);
    if (found === undefined) throw new Error(`no running ${name}`);
    return found;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** Every object key in the stack's bucket. */
  async objectKeys(): Promise<string[]> {
    return this.objects.listObjectKeys();
  }

  /** The records of images that are not deleted. */
  async liveRecords(): Promise<{ _id: string; objectKey: string }[]> {
    return this.connection.collection<{ _id: string; objectKey: string }>('images').find({ deletedAt: null }, { projection: { objectKey: 1 } }).toArray();
  }

  /**
   * How the bucket and the collection disagree — objects nothing accounts for (a served
   * object no live record points to, a quarantined one of an image not taken down), live
   * records whose object is missing (for a taken-down image: its quarantined copy), deleted
   * records not yet purged: all empty once every job and sweep has settled.
   */
  async disagreements(): Promise<{ objectsWithoutRecord: string[]; recordsWithoutObject: string[]; tombstones: string[] }> {
    const [objects, records, tombstones] = await Promise.all([
      this.objectKeys(),
      this.connection
        .collection<{ _id: string; objectKey: string; versionId: string; takedown?: unknown }>('images')
        .find({ deletedAt: null }, { projection: { objectKey: 1, versionId: 1, takedown: 1 } })
        .toArray(),
      this.images.findTombstones(new Date(Date.now() + 24 * 3600_000), 1000),
    ]);
    const takenDown = new Set(records.filter((record) => record.takedown != null).map((record) => record._id));
    const expected = (record: (typeof records)[number]) => (takenDown.has(record._id) ? quarantineKeyFor(record._id, record.versionId) : record.objectKey);
    const pointed = new Set(records.filter((record) => !takenDown.has(record._id)).map((record) => record.objectKey));
    const stored = new Set(objects);
    const accounted = (key: string) => {
      const quarantined = parseQuarantineKey(key);
      return quarantined === undefined ? pointed.has(key) : takenDown.has(quarantined.imageKey);
    };
    return {
      objectsWithoutRecord: objects.filter((key) => !accounted(key)),
      recordsWithoutObject: records.filter((record) => !stored.has(expected(record))).map((record) => record._id),
      tombstones,
    };
  }

  /** Resolves once `disagreements()` is all empty; fails with what is left after `timeoutMs`. */
  async waitUntilConsistent(timeoutMs: number): Promise<void> {
    let last: Awaited<ReturnType<TestStack['disagreements']>> | undefined;
    try {
      await waitFor(
        'the bucket and the collection to agree',
        async () => {
          last = await this.disagreements();
          return Object.values(last).every((list) => list.length === 0) ? true : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (error) {
      throw new Error(`${errorMessage(error)}; still: ${JSON.stringify(last)}`);
    }
  }

  async recordCount(): Promise<number> {
    return this.images.countAll();
  }

  /** Jobs of every state in both queues (0 when nothing is left behind). */
  async jobCounts(): Promise<{ ingest: Record<string, number>; reap: Record<string, number> }> {
    const [ingest, reap] = await Promise.all([this.ingestQueue.getJobCounts(...JOB_STATES), this.reapQueue.getJobCounts(...JOB_STATES)]);
    return { ingest, reap };
  }

  /**
   * Jobs left in either queue in any state, except the reaper's standing schedules (sweep, expiry):
   * empty when a request left nothing behind in Redis.
   */
  async leftoverJobs(): Promise<{ queue: string; name: string; id: string | undefined }[]> {
    const [ingest, reap] = await Promise.all([this.ingestQueue.getJobs([...JOB_STATES]), this.reapQueue.getJobs([...JOB_STATES])]);
    return [
      ...ingest.map((job) => ({ queue: INGEST_QUEUE, name: job.name, id: job.id })),
      ...reap.filter((job) => !SCHEDULED_REAP_JOBS.includes(job.name as ReapJobName)).map((job) => ({ queue: REAP_QUEUE, name: job.name, id: job.id })),
    ];
  }

  /** Stops every process and removes the stack's database, bucket and queues. */
  async stop(): Promise<void> {
    // Each step is bounded and reports itself when slow: a teardown that hangs would hold
    // the whole test run open.
    await boundedStep('stop the service processes', () => Promise.allSettled(this.processes.map((p) => p.stop('SIGTERM', 15_000))));
    await boundedStep('remove the queues', async () => {
      await Promise.allSettled([this.ingestQueue.obliterate({ force: true }), this.reapQueue.obliterate({ force: true })]);
      await Promise.allSettled([this.ingestQueue.close(), this.reapQueue.close()]);
      await this.releaseQueueConnections();
    });
    await boundedStep('empty and remove the bucket', async () => {
      const keys = await this.objects.listObjectKeys().catch(() => []);
      await Promise.allSettled(keys.map((key) => this.objects.removeObject(key)));
      await this.objects.removeBucket().catch(() => undefined);
    });
    await boundedStep('drop the database', async () => {
      await this.connection.dropDatabase().catch(() => undefined);
      await this.connection.close().catch(() => undefined);
    });
  }
}

