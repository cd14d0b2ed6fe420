// `npm run bench:scale-out`: what a second replica changes. Two gateways and two ingest workers
// against one of each, on the same backends, at 64 clients; then what the QueueEvents fan-out
// (every gateway reads every ingest event) costs per upload at 1, 2 and 4 gateways. Prints the
// cells and writes bench/results/scale-out.md.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { backendEnvironment, provideBackends } from '@imagehost/backends';
import { TestStack, freePort, multipartBody, type ServiceName, type ServiceProcess } from '@imagehost/testing';
import { httpClient, runLoad } from './load.js';
import { cpuPerRequest, currentCommit, fmt, type Measured, merge, noiseJpeg } from './measure.js';
import { OHA_VERSION, ohaBinary, runOha, type OhaResult, type OhaRun } from './oha.js';
import { CpuMeter, pidListeningOn, reapedChildrenCpuMillis } from './process-cpu.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
/** Per side of a cell, in SLICES slices ordered one replica, two, two, one. */
const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 20_000);
const SLICES = 2;
/** Unmeasured load before each slice, so a replica started for it is past its first compilations. */
const WARM_UP_MS = Math.min(1000, CELL_MS / 4);
const CLIENTS = 64;
const COLD_IMAGES = 2000;
const FAN_OUT_GATEWAYS = [1, 2, 4] as const;
/** `BENCH_ONLY=replicas` or `fan-out` runs one part and writes nothing. */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter((part) => part !== ''));
const runs = (part: string) => ONLY.size === 0 || ONLY.has(part);
const KiB = 1024;

/**
 * The gateways and ingest workers of the stack, numbered from 1. Gateway n always listens on
 * the n-th port, so a URL names the same replica across restarts.
 */
class Replicas {
  readonly gateways: ServiceProcess[] = [];
  readonly workers: ServiceProcess[] = [];

  constructor(
    private readonly stack: TestStack,
    readonly ports: readonly number[],
  ) {}

  /** Exactly `gateways` gateways and `workers` ingest workers; `fresh` restarts every gateway, so none starts with a warm cache. */
  async resize(gateways: number, workers: number, fresh = false): Promise<void> {
    if (fresh) await Promise.all(this.gateways.splice(0).map((gateway) => gateway.stop()));
    await this.fit('gateway', this.gateways, gateways);
    await this.fit('ingest', this.workers, workers);
  }

  url(gateway: number, path: string): string {
    return `http://127.0.0.1:${this.ports[gateway]}${path}`;
  }

  pids(): Record<string, number | undefined> {
    return {
      ...Object.fromEntries(this.gateways.map((gateway, n) => [`gateway ${n + 1}`, gateway.child.pid])),
      ...Object.fromEntries(this.workers.map((worker, n) => [`ingest ${n + 1}`, worker.child.pid])),
    };
  }

  private async fit(name: ServiceName, running: ServiceProcess[], count: number): Promise<void> {
    while (running.length > count) await running.pop()?.stop();
    while (running.length < count) {
      const extraEnv: Record<string, string> = name === 'gateway' ? { PORT: String(this.ports[running.length]) } : {};
      const started = await this.stack.startService(name, extraEnv);
      await started.waitUntilServing();
      running.push(started);
    }
  }
}

/** oha runs side by side (one per gateway) as one result: rates summed, percentiles weighted by requests. */
function combine(results: readonly OhaResult[]): OhaResult {
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const weighted = (pick: (r: OhaResult) => number) => results.reduce((n, r) => n + pick(r) * r.requests, 0) / Math.max(1, requests);
  const sum = (pick: (r: OhaResult) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const r of results) for (const [key, value] of Object.entries(pick(r))) total[key] = (total[key] ?? 0) + value;
    return total;
  };
  return {
    requests,
    seconds: Math.max(...results.map((r) => r.seconds)),
    perSecond: results.reduce((n, r) => n + r.perSecond, 0),
    p50Ms: weighted((r) => r.p50Ms),
    p99Ms: weighted((r) => r.p99Ms),
    statuses: sum((r) => r.statuses),
    errors: sum((r) => r.errors),
  };
}

/** A side of a cell, with each slice's rate to show how much the machine drifted. */
interface Side extends Measured {
  readonly sliceRates: readonly number[];
}

const mergeSlices = (slices: readonly Measured[]): Side => ({ ...merge(slices), sliceRates: slices.map((slice) => slice.perSecond) });

interface ReplicaCell {
  scenario: string;
  one: Side;
  two: Side;
}

interface FanOutCell {
  gateways: number;
  uploads: Side;
}

async function main(): Promise<void> {
  const started = new Date();
  const loadAtStart = loadavg();
  const backends = await provideBackends();
  Object.assign(process.env, backendEnvironment(backends.settings));
  // Gateways and workers are started by Replicas; the stack starts the one reaper.
  const stack = await TestStack.start({
    services: ['reaper'],
    env: { UPLOAD_RATE_LIMIT: '0', KEY_FAILURE_RATE_LIMIT: '0', SUPERSEDED_REAP_DELAY_MS: '0', LOG_LEVEL: 'info' },
  });
  const replicas = new Replicas(stack, [Number(stack.env.PORT), await freePort(), await freePort(), await freePort()]);
  await replicas.resize(1, 1);
  const oha = await ohaBinary();
  const http = httpClient(64);
  const scratch = mkdtempSync(join(tmpdir(), 'imagehost-scale-out-'));
  const portOf = (url: string) => Number(new URL(url).port);
  const steadyPids: Record<string, number | undefined> = {
    reaper: stack.service('reaper').child.pid,
    redis: pidListeningOn(portOf(backends.settings.redisUrl)),
    mongodb: pidListeningOn(portOf(backends.settings.mongoUrl)),
    s3: pidListeningOn(portOf(backends.settings.s3.endpoint)),
    bench: process.pid,
  };
  /** CPU of every process over `run`; `oha` is the load generators, children this process waited for. */
  const metered = async (run: () => Promise<OhaResult>): Promise<Measured> => {
    const meter = new CpuMeter({ ...replicas.pids(), ...steadyPids });
    const ohaBefore = reapedChildrenCpuMillis(process.pid);
    meter.start();
    const result = await run();
    const cpuMs = meter.stop();
    return { ...result, cpuMs: { ...cpuMs, oha: reapedChildrenCpuMillis(process.pid) - ohaBefore } };
  };
  /** `CLIENTS` clients split evenly over the running gateways, one oha per gateway (oha keeps a connection to whichever host it first reached, so one URL list cannot spread them). */
  const spread = (target: (gateway: number) => OhaRun['target'], extra: Partial<OhaRun> = {}) => async (durationMs: number) => {
    const count = replicas.gateways.length;
    return combine(await Promise.all(replicas.gateways.map((_, n) => runOha(oha, { target: target(n), concurrency: CLIENTS / count, durationMs, ...extra }))));
  };

  const image = await noiseJpeg(256 * KiB);
  const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: image }]);
  const bodyFile = join(scratch, 'upload.multipart');
  writeFileSync(bodyFile, body);
  const upload = { method: 'POST', bodyFile, contentType } as const;
  const uploads = spread((gateway) => ({ url: replicas.url(gateway, '/') }), upload);
  const post = async () => {
    const response = await http.send(stack.url('/'), 'POST', body, { 'content-type': contentType });
    return (JSON.parse(response.body.toString('utf8')) as { image_key: string }).image_key;
  };

  const replicaCells: ReplicaCell[] = [];
  if (runs('replicas')) {
    const keys: string[] = [];
    await runLoad({ concurrency: 16, durationMs: 10 * 60_000, maxOps: COLD_IMAGES, op: async () => void keys.push(await post()) });
    const hotKey = await post();
    // Image i is read through gateway i mod n, so an image read twice meets the same gateway
    // (and its cache) as with one gateway.
    const coldUrls = (gateways: number) =>
      Array.from({ length: gateways }, (_, gateway) => {
        const file = join(scratch, `cold-${gateways}-${gateway}.urls`);
        writeFileSync(file, `${keys.filter((_, i) => i % gateways === gateway).map((key) => replicas.url(gateway, `/${key}`)).join('\n')}\n`);
        return { urlsFile: file };
      });
    const coldTargets = new Map([1, 2].map((n) => [n, coldUrls(n)]));
    const hotReads = spread((gateway) => ({ url: replicas.url(gateway, `/${hotKey}`) }));
    // Cold cells warm up on the hot image, which leaves the cold images' cache admissions alone.
    const scenarios = [
      { name: 'cold read 256 KiB ×2000', fresh: true, warmUp: hotReads, run: spread((gateway) => coldTargets.get(replicas.gateways.length)?.[gateway] ?? { urlsFile: '' }) },
      { name: 'hot read 256 KiB', fresh: false, warmUp: hotReads, run: hotReads },
      { name: 'upload 256 KiB', fresh: false, warmUp: uploads, run: uploads },
    ];
    for (const scenario of scenarios) {
      const sides: Record<1 | 2, Measured[]> = { 1: [], 2: [] };
      // One replica, two, two, one: a steady drift in the machine's speed weighs on both sides.
      for (const n of [1, 2, 2, 1] as const) {
        await replicas.resize(n, n, scenario.fresh);
        await scenario.warmUp(WARM_UP_MS);
        sides[n].push(await metered(() => scenario.run(CELL_MS / SLICES)));
      }
      const cell = { scenario: scenario.name, one: mergeSlices(sides[1]), two: mergeSlices(sides[2]) };
      replicaCells.push(cell);
      for (const [label, side] of [['1 + 1', cell.one], ['2 + 2', cell.two]] as const) {
        console.log(`${cell.scenario.padEnd(26)} ${label} ${fmt(side.perSecond)}/s p50 ${fmt(side.p50Ms)} ms p99 ${fmt(side.p99Ms)} ms ${JSON.stringify(side.statuses)}`);
        console.log(`${''.padEnd(32)} CPU ms per request: ${cpuLine(side)}`);
      }
    }
  }

  // Fan-out: every upload through gateway 1; the other gateways only read the ingest events.
  const fanOutCells: FanOutCell[] = [];
  let rest: Measured | undefined;
  /** Entries BullMQ added to the ingest queue's event stream per upload: what every gateway reads. */
  let eventsPerUpload = Number.NaN;
  if (runs('fan-out')) {
    const throughFirst = (durationMs: number) => runOha(oha, { target: { url: replicas.url(0, '/') }, concurrency: CLIENTS, durationMs, ...upload });
    const slices = new Map<number, Measured[]>(FAN_OUT_GATEWAYS.map((n) => [n, []]));
    const redis = new Redis(backends.settings.redisUrl);
    /** Entries ever added to the event stream every QueueEvents reads (XINFO STREAM, Redis 7). */
    const eventsAdded = async () => {
      const info = (await redis.xinfo('STREAM', stack.ingestQueue.toKey('events'))) as unknown[];
      return Number(info[info.indexOf('entries-added') + 1]);
    };
    let events = 0;
    for (const n of [...FAN_OUT_GATEWAYS, ...[...FAN_OUT_GATEWAYS].reverse()]) {
      await replicas.resize(n, 1);
      await throughFirst(WARM_UP_MS);
      if (n === 4 && rest === undefined) {
        // What four warm gateways cost at rest (timers, blocking reads timing out), to subtract from the idle ones.
        await sleep(500);
        rest = await metered(async () => {
          await sleep(CELL_MS / SLICES);
          return { requests: 0, seconds: CELL_MS / SLICES / 1000, perSecond: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, statuses: {}, errors: {} };
        });
      }
      const eventsBefore = await eventsAdded();
      slices.get(n)?.push(await metered(() => throughFirst(CELL_MS / SLICES)));
      events += (await eventsAdded()) - eventsBefore;
    }
    redis.disconnect();
    eventsPerUpload = events / [...slices.values()].flat().reduce((total, slice) => total + slice.requests, 0);
    for (const n of FAN_OUT_GATEWAYS) {
      const cell = { gateways: n, uploads: mergeSlices(slices.get(n) ?? []) };
      fanOutCells.push(cell);
      console.log(`fan-out ${n} gateway(s): ${fmt(cell.uploads.perSecond)} uploads/s p50 ${fmt(cell.uploads.p50Ms)} ms p99 ${fmt(cell.uploads.p99Ms)} ms ${JSON.stringify(cell.uploads.statuses)}`);
      console.log(`${''.padEnd(24)}CPU ms per upload: ${cpuLine(cell.uploads)}`);
    }
  }
  const fanOut = rest === undefined ? undefined : fanOutCost(fanOutCells, rest);
  if (fanOut !== undefined) {
    console.log(
      `fan-out per upload (${fmt(eventsPerUpload, 2)} events): each idle gateway ${fmt(fanOut.idleGatewayMs, 3)} ms (${fmt(fanOut.idleGatewayRawMs, 3)} before subtracting its CPU at rest), Redis ${fmt(fanOut.redisPerGatewayMs, 3)} ms more per extra gateway; ${fmt(fanOut.perExtraGatewayMs, 3)} ms per upload per extra gateway`,
    );
  }

  const failures = gatewayFailures(stack);
  if (failures.length > 0) console.log(`gateway errors: ${failures.join('; ')}`);
  http.close();
  rmSync(scratch, { recursive: true, force: true });
  await stack.stop();
  await backends.stop();

  if (ONLY.size > 0) {
    console.log('\nBENCH_ONLY set: nothing written');
    return;
  }
  const commit = currentCommit();
  const replicaColumns = ['gateway 1', 'gateway 2', 'gateways', 'ingest 1', 'ingest 2', 'ingest workers', 'reaper', 'redis', 'mongodb', 's3', 'bench', 'oha'];
  const fanOutColumns = ['gateway 1', 'gateway 2', 'gateway 3', 'gateway 4', 'ingest 1', 'reaper', 'redis', 'mongodb', 's3', 'bench', 'oha'];
  const cpuCells = (side: Measured, columns: readonly string[]) => {
    const perRequest = cpuPerRequest(side);
    const sumOf = (prefix: string) => Object.entries(perRequest).reduce((n, [name, ms]) => (name.startsWith(prefix) ? n + ms : n), 0);
    const withSums: Record<string, number | undefined> = { ...perRequest, gateways: sumOf('gateway '), 'ingest workers': sumOf('ingest ') };
    return [...columns.map((name) => (withSums[name] === undefined ? '–' : fmt(withSums[name] ?? 0, 3))), fmt(perRequest.total ?? 0, 3)].join(' | ');
  };
  const lines = [
    `# Scale-out benchmark ${started.toISOString()} (commit ${commit})`,
    '',
    `${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}); backends: redis ${backends.sources.redis}, mongo ${backends.sources.mongo}, s3 ${backends.sources.s3}. Load from oha ${OHA_VERSION}, ${CLIENTS} clients split evenly over the gateways (one oha per gateway). Each side of a cell runs ${CELL_MS} ms in ${SLICES} slices, ordered one replica, two, two, one. Load average at the start: ${loadAtStart.map((n) => fmt(n, 2)).join(', ')} (the machine is shared).`,
    '',
    '## One replica against two',
    '',
    '"1 + 1" is one gateway and one ingest worker, "2 + 2" two of each; one reaper in both. CPU per request in ms, from /proc over each side, each process\'s CPU divided by all the requests of the side (so with two gateways each carries about half); `gateways` and `ingest workers` are the sums; `oha` is the load generators, `bench` the benchmark process.',
    '',
    `| scenario | replicas | req/s (slices) | p50 / p99 ms | statuses | ${replicaColumns.join(' | ')} | total |`,
    `|---|---|---|---|---|${replicaColumns.map(() => '---|').join('')}---|`,
    ...replicaCells.flatMap((cell) =>
      (
        [
          ['1 + 1', cell.one],
          ['2 + 2', cell.two],
        ] as const
      ).map(([label, side]) => `| ${cell.scenario} | ${label} | ${rateText(side)} | ${fmt(side.p50Ms)} / ${fmt(side.p99Ms)} | ${statusText(side)} | ${cpuCells(side, replicaColumns)} |`),
    ),
    '',
    '## QueueEvents fan-out',
    '',
    `Every upload (256 KiB, ${CLIENTS} clients) goes through gateway 1; gateways 2–4 only read the ingest events. One ingest worker. Each row ${CELL_MS} ms in ${SLICES} slices, ordered 1, 2, 4, 4, 2, 1 gateways. CPU per upload in ms.`,
    '',
    `| gateways | uploads/s (slices) | p50 / p99 ms | statuses | ${fanOutColumns.join(' | ')} | total |`,
    `|---|---|---|---|${fanOutColumns.map(() => '---|').join('')}---|`,
    ...fanOutCells.map((cell) => `| ${cell.gateways} | ${rateText(cell.uploads)} | ${fmt(cell.uploads.p50Ms)} / ${fmt(cell.uploads.p99Ms)} | ${statusText(cell.uploads)} | ${cpuCells(cell.uploads, fanOutColumns)} |`),
    '',
    ...(fanOut === undefined
      ? []
      : [
          `- At rest, over ${fmt((rest?.seconds ?? 0) * 1000, 0)} ms with four gateways: ${fmt(fanOut.restGatewayMsPerSecond, 2)} ms of CPU per second per gateway, Redis ${fmt(fanOut.restRedisMsPerSecond, 2)} ms per second.`,
          `- BullMQ adds ${fmt(eventsPerUpload, 2)} entries per upload to the ingest queue's event stream, which every gateway's QueueEvents reads.`,
          `- Each idle gateway spends ${fmt(fanOut.idleGatewayMs, 3)} ms per upload on them, ${fmt((fanOut.idleGatewayMs * 1000) / eventsPerUpload, 0)} µs per event (${fmt(fanOut.idleGatewayRawMs, 3)} ms per upload before subtracting its CPU at rest): the mean over the idle gateways of the 2- and 4-gateway cells.`,
          `- Redis spends ${fmt(fanOut.redisPerGatewayMs, 3)} ms more per upload for each gateway beyond the first (the slope from 1 to 4 gateways).`,
          `- Fan-out cost per upload per extra gateway: ${fmt(fanOut.perExtraGatewayMs, 3)} ms of CPU.`,
        ]),
    ...(failures.length === 0 ? [] : [`- Gateway errors logged over the run: ${failures.join('; ')}.`]),
    '',
  ];
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}scale-out.md`, lines.join('\n'));
  console.log('\nwritten: bench/results/scale-out.md');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function cpuLine(side: Measured): string {
  return Object.entries(cpuPerRequest(side))
    .map(([name, ms]) => `${name} ${fmt(ms, 3)}`)
    .join(', ');
}

/** What the gateways logged as failed requests over the run, counted by code and message. */
function gatewayFailures(stack: TestStack): string[] {
  const counts = new Map<string, number>();
  for (const gateway of stack.processes.filter((p) => p.name === 'gateway')) {
    for (const line of gateway.lines) {
      if (!line.includes('"request failed"')) continue;
      const entry = JSON.parse(line) as { code?: string; err?: { message?: string } };
      const key = `${entry.code ?? '?'} (${entry.err?.message ?? ''})`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].map(([key, count]) => `${count} × ${key}`);
}

function rateText(side: Side): string {
  return `${fmt(side.perSecond)} (${side.sliceRates.map((rate) => fmt(rate)).join(', ')})`;
}

function statusText(side: Measured): string {
  const errors = Object.values(side.errors).reduce((n, count) => n + count, 0);
  return `${Object.entries(side.statuses).map(([status, count]) => `${count} × ${status}`).join(', ')}${errors > 0 ? `, ${errors} errors` : ''}`;
}

/** The fan-out's cost per upload: the idle gateways' CPU net of their rest, and Redis's growth per extra gateway. */
function fanOutCost(cells: readonly FanOutCell[], rest: Measured) {
  const restMsPerSecond = (name: string) => (rest.cpuMs[name] ?? 0) / rest.seconds;
  const idleGateways = ['gateway 2', 'gateway 3', 'gateway 4'];
  const restGatewayMsPerSecond = [...idleGateways, 'gateway 1'].reduce((n, name) => n + restMsPerSecond(name), 0) / 4;
  let raw = 0;
  let net = 0;
  let samples = 0;
  for (const { uploads } of cells) {
    for (const name of idleGateways) {
      const ms = uploads.cpuMs[name];
      if (ms === undefined) continue;
      raw += ms / uploads.requests;
      net += (ms - restGatewayMsPerSecond * uploads.seconds) / uploads.requests;
      samples += 1;
    }
  }
  const redis = (n: number) => {
    const cell = cells.find((c) => c.gateways === n);
    return cell === undefined ? Number.NaN : (cell.uploads.cpuMs.redis ?? Number.NaN) / cell.uploads.requests;
  };
  const idleGatewayMs = net / Math.max(1, samples);
  const redisPerGatewayMs = (redis(4) - redis(1)) / 3;
  return {
    restGatewayMsPerSecond,
    restRedisMsPerSecond: restMsPerSecond('redis'),
    idleGatewayRawMs: raw / Math.max(1, samples),
    idleGatewayMs,
    redisPerGatewayMs,
    perExtraGatewayMs: idleGatewayMs + redisPerGatewayMs,
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
