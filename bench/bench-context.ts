import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'minio';
import { backendEnvironment, provideBackends, type Backends } from '@imagehost/backends';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { ObjectStore } from '@imagehost/storage';
import { TestStack, readRss, uniqueName } from '@imagehost/testing';
import type { Connection } from 'mongoose';
import { httpClient, type LoadResult } from './load.js';
import { cpuPerRequest, fmt, merge, noiseJpeg, type Measured } from './measure.js';
import { ohaBinary, type OhaResult } from './oha.js';
import { CpuMeter, pidListeningOn } from './process-cpu.js';

// What every phase of `npm run bench` (run.ts) shares: the settings, the stack and its
// backends, the floor's own store and repository, the CPU meters and the table of cells.

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 4000);
/** Each cell runs service and floor in this many slices per side, ordered service, floor, floor, service. */
export const SLICES = 2;
/** Unmeasured load before the cold cells (see there). */
export const WARM_UP_MS = 2000;
export const CONCURRENCY = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
/** `BENCH_ONLY=upload,cold` runs only those parts (upload, hot, lookup, cold, delete, burst) and writes no results. */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter((part) => part !== ''));
export const runs = (part: string) => ONLY.size === 0 || ONLY.has(part);
export const partial = ONLY.size > 0 || process.env.BENCH_CLIENTS !== undefined;

export function sampleRss(pids: Record<string, number>, intervalMs = 25) {
  const peaks: Record<string, number> = Object.fromEntries(Object.keys(pids).map((name) => [name, 0]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) peaks[name] = Math.max(peaks[name] ?? 0, readRss(pid));
  }, intervalMs);
  return { peaks, stop: () => clearInterval(timer) };
}

export interface Cell {
  scenario: string;
  size: string;
  concurrency: number;
  service: Measured;
  floor?: Measured;
  ratio?: number;
  /** Uploads only: the gateway's wait for the ingest result minus the worker's time on the job. */
  queueHop?: { samples: number; p50Ms: number; p99Ms: number };
}

/** A closed loop of this process, in the shape of the load generator's results. */
export function fromLoad(result: LoadResult): OhaResult {
  return {
    requests: result.ops + result.errors,
    seconds: result.seconds,
    perSecond: result.perSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    statuses: result.statuses,
    errors: result.errors > 0 ? { failed: result.errors } : {},
  };
}

export interface Bench {
  readonly backends: Backends;
  readonly stack: TestStack;
  readonly http: ReturnType<typeof httpClient>;
  readonly oha: string;
  /** A temporary folder for oha's body and URL files. */
  readonly scratch: string;
  /** Presigns the floor's direct S3 reads. */
  readonly presigner: Client;
  /** Every process a request may cost CPU in, by name; a backend not on this machine is left out. */
  readonly cpuPids: Record<string, number | undefined>;
  /** Peak RSS of the stack's processes while the timed phases run. */
  readonly rss: ReturnType<typeof sampleRss>;
  /** The floor: the same work with no architecture around it, on the same servers. */
  readonly floorObjects: ObjectStore;
  readonly floorImages: ImageRepository;
  readonly floorConnection: Connection;
  readonly sizes: readonly { label: string; bytes: Buffer }[];
  readonly cells: Cell[];
}

/** Backends, the stack (rate limits off, superseded versions reaped at once), the floor and the meters. */
export async function startBench(): Promise<Bench> {
  const backends = await provideBackends();
  Object.assign(process.env, backendEnvironment(backends.settings));
  const stack = await TestStack.start({
    env: { UPLOAD_RATE_LIMIT: '0', KEY_FAILURE_RATE_LIMIT: '0', SUPERSEDED_REAP_DELAY_MS: '0', LOG_LEVEL: 'info' },
  });
  const pids = Object.fromEntries(stack.processes.map((p) => [p.name, p.child.pid ?? 0]));
  const rss = sampleRss(pids);
  const http = httpClient(128);
  const oha = await ohaBinary();
  const scratch = mkdtempSync(join(tmpdir(), 'imagehost-bench-'));
  const s3Url = new URL(backends.settings.s3.endpoint);
  const presigner = new Client({
    endPoint: s3Url.hostname,
    port: Number(s3Url.port || (s3Url.protocol === 'https:' ? 443 : 80)),
    useSSL: s3Url.protocol === 'https:',
    accessKey: backends.settings.s3.accessKey,
    secretKey: backends.settings.s3.secretKey,
    region: backends.settings.s3.region,
  });
  const portOf = (url: string) => Number(new URL(url).port);
  const cpuPids: Record<string, number | undefined> = {
    ...pids,
    redis: pidListeningOn(portOf(backends.settings.redisUrl)),
    mongodb: pidListeningOn(portOf(backends.settings.mongoUrl)),
    s3: pidListeningOn(portOf(backends.settings.s3.endpoint)),
    bench: process.pid,
  };

  const floorObjects = new ObjectStore({ ...backends.settings.s3, bucket: uniqueName('floor') });
  await floorObjects.ensureBucket();
  const floorConnection = connectDatabase({ url: backends.settings.mongoUrl, dbName: uniqueName('floor') });
  const floorImages = new ImageRepository(floorConnection);
  await floorImages.prepare();

  const sizes = [
    { label: '256 KiB', bytes: await noiseJpeg(256 * KiB) },
    { label: '2 MiB', bytes: await noiseJpeg(2 * MiB) },
  ];
  return { backends, stack, http, oha, scratch, presigner, cpuPids, rss, floorObjects, floorImages, floorConnection, sizes, cells: [] };
}

/** Stops the stack and the backends and removes what the floor and the scratch folder hold. */
export async function stopBench(bench: Bench): Promise<void> {
  bench.http.close();
  rmSync(bench.scratch, { recursive: true, force: true });
  await bench.stack.stop();
  for (const key of await bench.floorObjects.listObjectKeys()) await bench.floorObjects.removeObject(key);
  await bench.floorObjects.removeBucket();
  await bench.floorConnection.dropDatabase();
  await bench.floorConnection.close();
  await bench.backends.stop();
}

/** One side's run with the CPU every process spent on it. */
export async function metered(bench: Bench, run: () => Promise<OhaResult>): Promise<Measured> {
  const meter = new CpuMeter(bench.cpuPids);
  meter.start();
  const result = await run();
  return { ...result, cpuMs: meter.stop() };
}

/** Service and floor in slices ordered service, floor, floor, service, so a drift in the machine's speed weighs on both. */
export async function paired(bench: Bench, service: () => Promise<OhaResult>, floor: () => Promise<OhaResult>): Promise<{ service: Measured; floor: Measured }> {
  const services: Measured[] = [];
  const floors: Measured[] = [];
  for (let slice = 0; slice < SLICES; slice++) {
    if (slice % 2 === 0) {
      services.push(await metered(bench, service));
      floors.push(await metered(bench, floor));
    } else {
      floors.push(await metered(bench, floor));
      services.push(await metered(bench, service));
    }
  }
  return { service: merge(services), floor: merge(floors) };
}

/** Keeps a cell for the results and prints it with the CPU per request of each process. */
export function report(bench: Bench, cell: Cell): void {
  bench.cells.push(cell);
  const ratio = `${cell.ratio === undefined ? '' : ` ratio ${fmt(cell.ratio, 2)}`}${cell.queueHop === undefined ? '' : ` hop p50 ${fmt(cell.queueHop.p50Ms, 2)} ms`}`;
  const floor = cell.floor === undefined ? '' : ` | floor ${fmt(cell.floor.perSecond)}/s p50 ${fmt(cell.floor.p50Ms)} ms p99 ${fmt(cell.floor.p99Ms)} ms`;
  console.log(
    `${cell.scenario.padEnd(10)} ${cell.size.padEnd(8)} c=${String(cell.concurrency).padEnd(3)} service ${fmt(cell.service.perSecond)}/s p50 ${fmt(cell.service.p50Ms)} ms p99 ${fmt(cell.service.p99Ms)} ms ${JSON.stringify(cell.service.statuses)}${floor}${ratio}`,
  );
  const cpu = (side: Measured) =>
    Object.entries(cpuPerRequest(side))
      .filter(([, ms]) => ms >= 0.0005)
      .map(([name, ms]) => `${name} ${fmt(ms, 3)}`)
      .join(' ');
  console.log(`           CPU ms per request: service ${cpu(cell.service)}${cell.floor === undefined ? '' : ` | floor ${cpu(cell.floor)}`}`);
}
