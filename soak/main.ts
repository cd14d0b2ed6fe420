// `npm run soak`: the soak on this machine's backends (found or started like `npm start`'s):
// SOAK_MINUTES of steady load (default 10) split around a 60 s spike of 10× the clients.
// Prints the report, writes soak/results/latest.md and latest.json, and exits non-zero when
// any status or invariant check failed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { backendEnvironment, provideBackends, type Backends } from '@imagehost/backends';
import { runSoak, type SoakReport } from './soak.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const MiB = 2 ** 20;
/** Rows of the RSS curve in the Markdown report. */
const CURVE_STEP_SECONDS = 30;
/**
 * A service process that needs more than this has lost its bound (the gateway's own budget
 * for upload bytes is 96 MiB, its version cache 32 MiB, on a baseline near 100 MiB).
 */
const MAX_RSS_BYTES = 512 * MiB;
/**
 * Growth over the load, median of its last fifth minus median of its second fifth. The
 * gateway's version cache is a bounded LRU (32 MiB) that the cold reads fill over several
 * minutes, so up to that much growth is warm-up, not a leak; past it a flat process moves by a
 * few MiB of heap churn. A leak of 1 KiB per request (about 20 000 per gateway in 10 minutes)
 * would show as another 20 MiB.
 */
const MAX_GROWTH_BYTES = 48 * MiB;

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not "${raw}"`);
  return value;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const mib = (bytes: number) => fmt(bytes / MiB);
const statuses = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');

function markdown(report: SoakReport, context: { commit: string; machine: string; backends: string }): string {
  const { load } = report;
  const names = report.memory.map((m) => m.process);
  const bucket = (t: number) => Math.floor(t / CURVE_STEP_SECONDS);
  const curve = report.rssCurve.filter((sample, index, all) => index === 0 || index === all.length - 1 || bucket(all[index - 1]?.t ?? 0) !== bucket(sample.t));
  const spike = load.spikeWindowMs === undefined ? 'no spike' : `spike of ${load.settings.concurrency * load.settings.spikeFactor} clients from ${fmt(load.spikeWindowMs.from / 1000)} s to ${fmt(load.spikeWindowMs.to / 1000)} s of the load`;
  return [
    `# Soak ${report.startedAt} (commit ${context.commit}) — ${report.ok ? 'PASSED' : 'FAILED'}`,
    '',
    `${context.machine}; backends: ${context.backends}. Two gateways, two ingest workers, one reaper; service settings changed: ${Object.entries(report.serviceEnv).map(([k, v]) => `${k}=${v}`).join(', ')}.`,
    `Load: ${load.settings.concurrency} clients for ${fmt(load.durationMs / 60_000, 2)} min, ${spike}; ${load.requests} requests; ingest backlog peaked at ${report.peakIngestBacklog} jobs${report.spikeBacklogRecoverySeconds === undefined ? '' : `, was back to its pre-spike level ${fmt(report.spikeBacklogRecoverySeconds)} s after the spike`} and was empty ${fmt(report.drainMs / 1000, 2)} s after the load; whole run ${fmt(report.totalMs / 60_000, 2)} min.`,
    '',
    '| check | result | detail |',
    '|---|---|---|',
    ...report.invariants.map((i) => `| ${i.name} | ${i.ok ? 'ok' : '**FAILED**'} | ${i.detail.replaceAll('|', '\\|')} |`),
    '',
    '| operation | requests | statuses | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|',
    ...Object.entries(load.ops)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, s]) => `| ${op} | ${s.requests} | ${statuses(s.statuses)} | ${fmt(s.p50Ms)} | ${fmt(s.p99Ms)} | ${fmt(s.maxMs)} |`),
    '',
    '| phase | requests | statuses |',
    '|---|---|---|',
    ...Object.entries(load.phases).map(([phase, p]) => `| ${phase} | ${p.requests} | ${statuses(p.statuses)} |`),
    '',
    'Memory (RSS, MiB; growth: median of the load\'s last fifth minus median of its second fifth):',
    '',
    '| process | first | min | max | last | growth |',
    '|---|---|---|---|---|---|',
    ...report.memory.map((m) => `| ${m.process} | ${mib(m.firstBytes)} | ${mib(m.minBytes)} | ${mib(m.maxBytes)} | ${mib(m.lastBytes)} | ${mib(m.growthBytes)} |`),
    '',
    `RSS curve (MiB), one sample per ${CURVE_STEP_SECONDS} s; the load ran from ${fmt(report.loadWindowSeconds.from)} s to ${fmt(report.loadWindowSeconds.to)} s:`,
    '',
    `| t (s) | ${names.join(' | ')} | ingest backlog |`,
    `|---|${names.map(() => '---|').join('')}---|`,
    ...curve.map((sample) => `| ${fmt(sample.t, 0)} | ${names.map((name) => (sample.rss[name] ? mib(sample.rss[name]) : '–')).join(' | ')} | ${sample.ingestBacklog} |`),
    '',
    ...(load.unexpected.length === 0
      ? []
      : ['Unexpected answers (first 20):', '', ...load.unexpected.slice(0, 20).map((u) => `- ${u.at} s ${u.phase} ${u.op}: ${u.got} (${u.why}; allowed ${u.expected.join('/')}) ${u.body.replaceAll('\n', ' ')}`), '']),
  ].join('\n');
}

async function main(): Promise<number> {
  const minutes = positive('SOAK_MINUTES', 10);
  const spikeSeconds = positive('SOAK_SPIKE_SECONDS', 60);
  const steadyMs = Math.round(minutes * 60_000);
  let backends: Backends | undefined;
  try {
    backends = await provideBackends();
    Object.assign(process.env, backendEnvironment(backends.settings));
    const report = await runSoak({
      concurrency: Math.round(positive('SOAK_CONCURRENCY', 8)),
      steadyBeforeMs: Math.round(steadyMs / 2),
      spikeMs: Math.round(spikeSeconds * 1000),
      spikeFactor: 10,
      steadyAfterMs: steadyMs - Math.round(steadyMs / 2),
      memoryBounds: { maxRssBytes: MAX_RSS_BYTES, maxGrowthBytes: MAX_GROWTH_BYTES },
      log: (line) => console.log(line),
    });
    const commit = (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      } catch {
        return 'unknown';
      }
    })();
    const machine = `${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, Node ${process.version}`;
    const { redis, mongo, s3 } = backends.sources;
    const text = markdown(report, { commit, machine, backends: `redis ${redis}, mongo ${mongo}, s3 ${s3}` });
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(`${RESULTS_DIR}latest.md`, `${text}\n`);
    writeFileSync(`${RESULTS_DIR}latest.json`, `${JSON.stringify({ commit, machine, backends: backends.sources, ...report }, null, 2)}\n`);
    console.log(`\n${text}\nwritten: soak/results/latest.md, latest.json`);
    return report.ok ? 0 : 1;
  } finally {
    await backends?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
