// The soak: the real services — two gateways, two ingest workers, a reaper — under a mixed
// load from a second process (load.ts) for a given time, then the checks that every
// acknowledged write is what the services hold, and how each process's memory moved.
// `npm run soak` (main.ts) runs it for minutes; soak/test/soak.slow.test.ts for about one.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '@imagehost/errors';
import { TestStack, freePort, readRss, request, testRunMarker, type ServiceProcess } from '@imagehost/testing';
import type { LoadReport, LoadSettings } from './load-report.js';

export interface SoakOptions {
  /** Virtual clients in the steady phases. */
  readonly concurrency: number;
  readonly steadyBeforeMs: number;
  /** 0: no spike. */
  readonly spikeMs: number;
  readonly spikeFactor: number;
  readonly steadyAfterMs: number;
  /** Addresses the spike's upload flood comes from (default 4). */
  readonly floodSources?: number;
  /** Where progress lines go (default: nowhere). */
  readonly log?: (line: string) => void;
  /** Bound on the wait for the ingest backlog to drain after the load (default 120 s). */
  readonly drainTimeoutMs?: number;
  /** Bound on the wait for the bucket and the collection to agree (default 120 s). */
  readonly consistencyTimeoutMs?: number;
  /**
   * When given, an invariant more: every service process stays under `maxRssBytes`, and its
   * RSS grows by less than `maxGrowthBytes` (see ProcessMemory.growthBytes) over the load.
   */
  readonly memoryBounds?: { readonly maxRssBytes: number; readonly maxGrowthBytes: number };
}

export interface InvariantResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ProcessMemory {
  readonly process: string;
  readonly pid: number;
  readonly firstBytes: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly lastBytes: number;
  /** Median of the last fifth of the load's samples minus the median of its second fifth. */
  readonly growthBytes: number;
}

export interface RssSample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly rss: Record<string, number>;
  /** Ingest jobs waiting, active, delayed or prioritized. */
  readonly ingestBacklog: number;
}

export interface SoakReport {
  readonly startedAt: string;
  readonly options: Omit<SoakOptions, 'log'>;
  /** The service settings that differ from the defaults, and why (see SERVICE_ENV). */
  readonly serviceEnv: Readonly<Record<string, string>>;
  readonly load: Omit<LoadReport, 'ledger'>;
  readonly ledger: { readonly live: number; readonly pendingAtEnd: number; readonly deleted: number; readonly neverReadable: number; readonly patchedKeys: number };
  /** Seconds since the soak started (like the RSS curve) during which the load ran. */
  readonly loadWindowSeconds: { readonly from: number; readonly to: number };
  readonly peakIngestBacklog: number;
  /**
   * Seconds from the spike's end until the ingest backlog was back at (or below) its peak of
   * the steady phase before the spike; undefined without a spike, or when it never was.
   */
  readonly spikeBacklogRecoverySeconds: number | undefined;
  /** Milliseconds from the load's end until the ingest backlog was empty. */
  readonly drainMs: number;
  readonly totalMs: number;
  readonly invariants: readonly InvariantResult[];
  readonly memory: readonly ProcessMemory[];
  readonly rssCurve: readonly RssSample[];
  /** No unexpected status and every invariant held. */
  readonly ok: boolean;
}

/**
 * What the soak changes in the services' settings. TestStack turns both rate limits off; the
 * soak restores the production defaults and has the gateways trust X-Forwarded-For from
 * loopback, so the load process can speak for many clients: steady traffic and half the
 * spike come from a fresh address per request (many users, none near a limit, so a 429 there
 * is a defect), the other half of the spike from a few addresses that the per-client limits
 * must shed with 429. The sweep runs every 2 s and leaves only the last 10 s alone, so what a
 * lost job left behind is found within the run. Everything else is as shipped.
 */
const SERVICE_ENV = {
  TRUST_PROXY: '127.0.0.1',
  UPLOAD_RATE_LIMIT: '60',
  KEY_FAILURE_RATE_LIMIT: '30',
  SWEEP_INTERVAL_MS: '2000',
  SWEEP_GRACE_MS: '10000',
} as const;

const REQUEST_TIMEOUT_MS = 30_000;
const HOT_KEYS = 5;
const FLOOD_SOURCES = 4;
/** Parallel requests of the final checks. */
const CHECK_CONCURRENCY = 8;

// Under Jest this module runs from its source; the load generator always runs built.
const LOAD_ENTRY = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? './load.js' : './dist/load.js', import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');


function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** `work` over `items`, `parallel` at a time, stopping at `deadline` (what is left is reported as not done). */
async function forEachBounded<T>(items: readonly T[], parallel: number, deadline: number, work: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length && Date.now() < deadline) {
      const item = items[next++] as T;
      await work(item);
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return done;
}

async function ingestBacklog(stack: TestStack): Promise<number> {
  const counts = await stack.ingestQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** The load process: its settings as argv, its report as the one line on stdout. */
async function runLoadProcess(settings: LoadSettings, log: (line: string) => void, onStart: (pid: number) => void): Promise<LoadReport> {
  const child = spawn(process.execPath, ['--enable-source-maps', LOAD_ENTRY, JSON.stringify(settings)], {
    env: { PATH: process.env.PATH, ...testRunMarker() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onStart(child.pid ?? 0);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    log(line);
  });
  // The load bounds itself; this is the backstop should it hang.
  const bound = settings.steadyBeforeMs + settings.spikeMs + settings.steadyAfterMs + 5 * 60_000;
  const killer = setTimeout(() => child.kill('SIGKILL'), bound);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  const last = stdout.at(-1);
  if (code !== 0 || last === undefined) {
    throw new Error(`the load process ended with ${code ?? signal}; it wrote:\n${stderr.slice(-30).join('\n')}`);
  }
  return JSON.parse(last) as LoadReport;
}

function spikeRecovery(load: LoadReport, samples: readonly RssSample[], began: number): number | undefined {
  if (load.spikeWindowMs === undefined) return undefined;
  const toSoakSeconds = (loadMs: number) => (load.startedAtEpochMs + loadMs - began) / 1000;
  const spikeFrom = toSoakSeconds(load.spikeWindowMs.from);
  const spikeTo = toSoakSeconds(load.spikeWindowMs.to);
  const before = samples.filter((s) => s.t >= toSoakSeconds(0) && s.t < spikeFrom && s.ingestBacklog >= 0);
  const steadyPeak = Math.max(0, ...before.map((s) => s.ingestBacklog));
  const recovered = samples.find((s) => s.t >= spikeTo && s.ingestBacklog >= 0 && s.ingestBacklog <= steadyPeak);
  return recovered === undefined ? undefined : Math.round((recovered.t - spikeTo) * 10) / 10;
}

function memoryOf(name: string, pid: number, samples: readonly RssSample[], loadWindow: { from: number; to: number }): ProcessMemory {
  const all = samples.map((s) => s.rss[name] ?? 0).filter((bytes) => bytes > 0);
  const during = samples.filter((s) => s.t >= loadWindow.from && s.t <= loadWindow.to).map((s) => s.rss[name] ?? 0).filter((bytes) => bytes > 0);
  const fifth = Math.floor(during.length / 5);
  const growth = fifth === 0 ? 0 : median(during.slice(-fifth)) - median(during.slice(fifth, 2 * fifth));
  return {
    process: name,
    pid,
    firstBytes: all[0] ?? 0,
    minBytes: all.length === 0 ? 0 : Math.min(...all),
    maxBytes: all.length === 0 ? 0 : Math.max(...all),
    lastBytes: all.at(-1) ?? 0,
    growthBytes: growth,
  };
}

/**
 * Runs the soak on the backends named in the environment (as the test suite's global setup
 * or `provideBackends` + `backendEnvironment` leave them) and reports. Never throws for a
 * failed check — those are in `invariants` and `ok` — only when the stack cannot run at all.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { log: logOption, ...optionValues } = options;
  const log = logOption ?? (() => undefined);
  const began = Date.now();
  const startedAt = new Date(began).toISOString();
  const stack = await TestStack.start({ services: ['gateway', 'ingest', 'reaper'], env: SERVICE_ENV });
  let stopSampling = async (): Promise<void> => undefined;
  try {
    const secondPort = await freePort();
    await stack.startService('ingest');
    await stack.startService('gateway', { PORT: String(secondPort) });
    const gateways = [stack.baseUrl, `http://127.0.0.1:${secondPort}`];
    const ordinal = new Map<string, number>();
    const processes: { name: string; service: ServiceProcess }[] = stack.processes.map((service) => {
      const n = (ordinal.get(service.name) ?? 0) + 1;
      ordinal.set(service.name, n);
      return { name: `${service.name}-${n}`, service };
    });
    log(`started ${processes.map((p) => `${p.name} (pid ${p.service.child.pid})`).join(', ')}; gateways ${gateways.join(' ')}`);

    // One sample a second of every process's RSS and of the ingest backlog, until the checks end.
    const samples: RssSample[] = [];
    const pids: Record<string, number> = Object.fromEntries(processes.map((p) => [p.name, p.service.child.pid ?? 0]));
    const secondsSinceStart = () => Math.round((Date.now() - began) / 100) / 10;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rss = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, readRss(pid)]));
        const backlog = await ingestBacklog(stack).catch(() => -1);
        samples.push({ t: secondsSinceStart(), rss, ingestBacklog: backlog });
        await sleep(1000);
      }
    })();
    stopSampling = async () => {
      sampling = false;
      await sampler;
    };

    const settings: LoadSettings = {
      gateways,
      concurrency: options.concurrency,
      steadyBeforeMs: options.steadyBeforeMs,
      spikeMs: options.spikeMs,
      spikeFactor: options.spikeFactor,
      steadyAfterMs: options.steadyAfterMs,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      hotKeys: HOT_KEYS,
      // Far above what this machine can serve (about 1 000 requests a second at most): a backstop.
      maxRequests: Math.ceil(((options.steadyBeforeMs + options.spikeMs + options.steadyAfterMs) / 1000) * 1000),
      floodSources: options.floodSources ?? FLOOD_SOURCES,
    };
    const loadWindow = { from: secondsSinceStart(), to: Number.POSITIVE_INFINITY };
    const load = await runLoadProcess(settings, log, (pid) => {
      pids.load = pid;
    });
    loadWindow.to = secondsSinceStart();
    log(`load done: ${load.requests} requests, ${load.unexpectedCount} unexpected`);

    const invariants: InvariantResult[] = [];
    const check = (name: string, ok: boolean, detail: string) => {
      invariants.push({ name, ok, detail });
      log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    };
    check('no unexpected status', load.unexpectedCount === 0, `${load.unexpectedCount} of ${load.requests} requests`);

    // A spike gets answers — 429/503 where a limit or the upload budget is reached, 202 where
    // ingest falls behind, the rest served more slowly — never a timeout. Whether 429s come
    // depends on how fast the flood's addresses can send (a slow machine keeps them under
    // the limit), so they are reported, not required.
    if (load.spikeWindowMs !== undefined) {
      const sum = (status: string) => Object.values(load.ops).reduce((total, stats) => total + (stats.statuses[status] ?? 0), 0);
      const timeouts = sum('timeout');
      check('the spike gets answers, not timeouts', timeouts === 0, `${sum('429')} × 429, ${sum('503')} × 503, ${sum('202')} × 202, ${timeouts} timeouts`);
    }

    // The ingest backlog drains.
    const drainFrom = Date.now();
    const drainDeadline = drainFrom + (options.drainTimeoutMs ?? 120_000);
    let backlog = await ingestBacklog(stack);
    while (backlog > 0 && Date.now() < drainDeadline) {
      await sleep(100);
      backlog = await ingestBacklog(stack);
    }
    const drainMs = Date.now() - drainFrom;
    check('ingest backlog drains', backlog === 0, `${backlog} jobs left after ${drainMs} ms`);

    const { ledger, ...loadSummary } = load;
    const { live, deleted, neverReadable, patchSuccessesByUpdateKey } = ledger;
    const gatewayFor = (index: number) => gateways[index % gateways.length] ?? stack.baseUrl;

    // 202s become their image (the last acknowledged bytes) once ingested.
    const pending = live.filter((entry) => entry.pending);
    const pendingDeadline = Date.now() + 60_000;
    const stillPending: string[] = [];
    await forEachBounded(pending, CHECK_CONCURRENCY, pendingDeadline, async (entry) => {
      for (;;) {
        const reply = await request(`${gatewayFor(0)}/${entry.imageKey}`).catch(() => undefined);
        if (reply?.status === 200 && sha256(reply.body) === entry.sha256) return;
        if (Date.now() > pendingDeadline) break;
        await sleep(250);
      }
      stillPending.push(entry.imageKey);
    });
    check('every 202 became its image', stillPending.length === 0, `${pending.length - stillPending.length} of ${pending.length}${stillPending.length > 0 ? `; not: ${stillPending.slice(0, 5).join(' ')}` : ''}`);

    // Bucket and collection agree: no object without a record, no record without its object,
    // no tombstone left (superseded versions are reaped after SUPERSEDED_REAP_DELAY_MS).
    try {
      await stack.waitUntilConsistent(options.consistencyTimeoutMs ?? 120_000);
      check('objects and records agree', true, 'no orphan object, no record without its object, no tombstone');
    } catch (error) {
      check('objects and records agree', false, errorMessage(error).slice(0, 1000));
    }

    // Every acknowledged write is served with its exact bytes, by both gateways.
    const checkDeadline = Date.now() + 5 * 60_000;
    const wrong: string[] = [];
    let index = 0;
    const readOk = await forEachBounded(live, CHECK_CONCURRENCY, checkDeadline, async (entry) => {
      const reply = await request(`${gatewayFor(index++)}/${entry.imageKey}`).catch(() => undefined);
      if (reply?.status !== 200 || sha256(reply.body) !== entry.sha256) wrong.push(`${entry.imageKey}: ${reply?.status ?? 'no answer'}`);
    });
    check(
      'every live image serves its last acknowledged bytes',
      wrong.length === 0 && readOk === live.length,
      `${readOk - wrong.length} of ${live.length} (${live.filter((e) => e.pending).length} were 202s)${wrong.length > 0 ? `; wrong: ${wrong.slice(0, 5).join(', ')}` : ''}`,
    );

    // Deleted images: 404, no byte and no record left; refused 202s never became images.
    const gone = [...deleted, ...neverReadable];
    const served: string[] = [];
    const goneOk = await forEachBounded(gone, CHECK_CONCURRENCY, checkDeadline, async (imageKey) => {
      const reply = await request(`${gatewayFor(index++)}/${imageKey}`).catch(() => undefined);
      if (reply?.status !== 404) served.push(`${imageKey}: ${reply?.status ?? 'no answer'}`);
    });
    const objectPrefixes = new Set((await stack.objectKeys()).map((key) => key.split('/')[1]));
    const leftObjects = gone.filter((imageKey) => objectPrefixes.has(imageKey));
    const leftRecords: string[] = [];
    for (let at = 0; at < gone.length; at += 200) {
      const found = await stack.images.findMany(gone.slice(at, at + 200));
      leftRecords.push(...found.keys());
    }
    check(
      'deleted images are 404 with bytes and record gone',
      served.length === 0 && goneOk === gone.length && leftObjects.length === 0 && leftRecords.length === 0,
      `${deleted.length} deleted, ${neverReadable.length} refused after a 202: ${served.length} still served, ${leftObjects.length} with objects, ${leftRecords.length} with records${
        served.length > 0 ? `; ${served.slice(0, 5).join(', ')}` : ''
      }`,
    );

    // Client mistakes never cost a 5xx (a 503 that shed load during the spike is not about the mistake).
    const mistakes = Object.entries(load.ops).filter(([op]) => op.startsWith('bad-'));
    const serverErrors = mistakes.flatMap(([op, stats]) => Object.entries(stats.statuses).filter(([status]) => !/^[1-4]\d\d$/.test(status) && status !== '503').map(([status, n]) => `${op} ${status} ×${n}`));
    const shed = mistakes.reduce((sum, [, stats]) => sum + (stats.statuses['503'] ?? 0), 0);
    check('no 5xx for a client mistake', serverErrors.length === 0, `${mistakes.reduce((sum, [, stats]) => sum + stats.requests, 0)} bad requests${shed > 0 ? ` (${shed} shed with 503 during the spike)` : ''}${serverErrors.length > 0 ? `; ${serverErrors.join(', ')}` : ''}`);

    const patchCounts = Object.values(patchSuccessesByUpdateKey);
    const overOne = Object.entries(patchSuccessesByUpdateKey).filter(([, n]) => n > 1);
    check('at most one successful PATCH per update key', overOne.length === 0, `${patchCounts.length} update keys used, ${overOne.length} more than once`);

    const exited = processes.filter((p) => p.service.exit !== undefined);
    check('no process exited', exited.length === 0, exited.length === 0 ? `${processes.length} running` : exited.map((p) => `${p.name}: ${JSON.stringify(p.service.exit)}`).join(', '));

    await stopSampling();
    const memory = [...processes.map((p) => memoryOf(p.name, p.service.child.pid ?? 0, samples, loadWindow)), memoryOf('load', pids.load ?? 0, samples, loadWindow)];
    if (options.memoryBounds !== undefined) {
      const { maxRssBytes, maxGrowthBytes } = options.memoryBounds;
      const services = memory.filter((m) => m.process !== 'load');
      const over = services.filter((m) => m.maxBytes >= maxRssBytes || m.growthBytes >= maxGrowthBytes);
      const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
      check(
        'memory bounded and flat',
        over.length === 0,
        `max RSS < ${mib(maxRssBytes)} MiB and growth < ${mib(maxGrowthBytes)} MiB: ${services.map((m) => `${m.process} max ${mib(m.maxBytes)} growth ${mib(m.growthBytes)}`).join(', ')}`,
      );
    }
    return {
      startedAt,
      options: optionValues,
      loadWindowSeconds: loadWindow,
      serviceEnv: SERVICE_ENV,
      load: loadSummary,
      ledger: { live: live.length, pendingAtEnd: pending.length, deleted: deleted.length, neverReadable: neverReadable.length, patchedKeys: patchCounts.length },
      peakIngestBacklog: Math.max(0, ...samples.map((s) => s.ingestBacklog)),
      spikeBacklogRecoverySeconds: spikeRecovery(load, samples, began),
      drainMs,
      totalMs: Date.now() - began,
      invariants,
      memory,
      rssCurve: samples,
      ok: invariants.every((result) => result.ok),
    };
  } finally {
    await stopSampling();
    await stack.stop();
  }
}
