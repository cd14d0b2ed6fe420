import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BackendSource } from '@imagehost/backends';
import { CELL_MS, MiB, SLICES, type Cell } from './bench-context.js';
import { cpuPerRequest, fmt } from './measure.js';
import { OHA_VERSION } from './oha.js';
import type { BurstFigures, QueueHop } from './phases.js';

// bench/results/: latest.json, latest.md and a line of history.md per full run.

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const PROCESSES = ['gateway', 'pass-through', 'ingest', 'reaper', 'redis', 'mongodb', 's3', 'bench'] as const;

export interface BenchResult {
  date: string;
  commit: string;
  machine: { cores: number; memoryGiB: number; node: string; sharp: string; vips: string; oha: string };
  backends: { redis: BackendSource; mongo: BackendSource; s3: BackendSource };
  cellMs: number;
  cells: Cell[];
  queueHop: QueueHop;
  memory: { steadyPeakRssBytes: Record<string, number>; burst: BurstFigures };
  purgeSeconds: number;
}

function markdown(result: BenchResult, deletedCount: number): string {
  const { machine, backends, cells, queueHop: hop, memory } = result;
  const { burst } = memory;
  return [
    `# Benchmark ${result.date} (commit ${result.commit})`,
    '',
    `${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, sharp ${machine.sharp} (libvips ${machine.vips}); backends: redis ${backends.redis}, mongo ${backends.mongo}, s3 ${backends.s3}. HTTP load from oha ${OHA_VERSION} (reads: service and floor; uploads: service), the upload floor and the lookup from this process. Each timed cell runs ${CELL_MS} ms per side, service and floor in ${SLICES} slices each, ordered service, floor, floor, service; cold reads pick at random from their images (with replacement).`,
    '',
    '| scenario | size | clients | service ops/s | p50 / p99 ms | floor ops/s | p50 / p99 ms | service ÷ floor | queue hop p50 / p99 ms |',
    '|---|---|---|---|---|---|---|---|---|',
    ...cells.map(
      (c) =>
        `| ${c.scenario} | ${c.size} | ${c.concurrency} | ${fmt(c.service.perSecond)} | ${fmt(c.service.p50Ms)} / ${fmt(c.service.p99Ms)} | ${c.floor === undefined ? '–' : fmt(c.floor.perSecond)} | ${c.floor === undefined ? '–' : `${fmt(c.floor.p50Ms)} / ${fmt(c.floor.p99Ms)}`} | ${c.ratio === undefined ? '–' : fmt(c.ratio, 2)} | ${c.queueHop === undefined ? '–' : `${fmt(c.queueHop.p50Ms, 2)} / ${fmt(c.queueHop.p99Ms, 2)}`} |`,
    ),
    '',
    '## CPU per request (ms, from /proc over each cell)',
    '',
    `| scenario | size | clients | side | ${PROCESSES.join(' | ')} | total |`,
    `|---|---|---|---|${PROCESSES.map(() => '---|').join('')}---|`,
    ...cells.flatMap((c) =>
      (c.floor === undefined ? [['service', c.service] as const] : [['service', c.service] as const, ['floor', c.floor] as const]).map(([side, measured]) => {
        const perRequest = cpuPerRequest(measured);
        return `| ${c.scenario} | ${c.size} | ${c.concurrency} | ${side} | ${PROCESSES.map((name) => (perRequest[name] === undefined ? '–' : fmt(perRequest[name] ?? 0, 3))).join(' | ')} | ${fmt(perRequest.total ?? 0, 3)} |`;
      }),
    ),
    '',
    `- Purge: all ${deletedCount} deleted images' bytes gone ${fmt(result.purgeSeconds, 2)} s after the last DELETE.`,
    `- Queue hop on POST (gateway wait − ingest work), one client, 256 KiB: p50 ${fmt(hop.p50Ms, 2)} ms, p99 ${fmt(hop.p99Ms, 2)} ms over ${hop.samples} uploads. Under load it includes the wait behind other jobs (table).`,
    `- Peak RSS over the run: ${Object.entries(memory.steadyPeakRssBytes).map(([name, bytes]) => `${name} ${fmt(bytes / MiB)} MiB`).join(', ')}.`,
    `- 64 clients uploading ${fmt(burst.bytesEach / MiB, 2)} MiB at once: ${JSON.stringify(burst.statuses)}; gateway RSS ${fmt(burst.gatewayRssBeforeBytes / MiB)} MiB before, peak ${fmt(burst.gatewayPeakRssBytes / MiB)} MiB.`,
    '',
  ].join('\n');
}

function historyLine(result: BenchResult): string {
  const pick = (scenario: string, size: string, concurrency: number) =>
    result.cells.find((c) => c.scenario === scenario && c.size.startsWith(size) && c.concurrency === concurrency)?.ratio ?? Number.NaN;
  const pair = (scenario: string) => `${fmt(pick(scenario, '256', 16), 2)} / ${fmt(pick(scenario, '2 MiB', 16), 2)}`;
  return `| ${result.date} | ${result.commit} | ${process.env.BENCH_NOTE ?? ''} | ${pair('upload')} | ${pair('hot read')} | ${pair('cold read')} | ${fmt(result.queueHop.p50Ms, 2)} | ${fmt(result.memory.burst.gatewayPeakRssBytes / MiB)} | ${pair('cold read, bare proxy')} |\n`;
}

/** Writes latest.json and latest.md and appends the run's line to history.md. */
export function writeResults(result: BenchResult, deletedCount: number): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}latest.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${RESULTS_DIR}latest.md`, markdown(result, deletedCount));
  const historyFile = `${RESULTS_DIR}history.md`;
  if (!existsSync(historyFile)) {
    writeFileSync(
      historyFile,
      '# Benchmark history\n\nOne line per run of `npm run bench` (ratios are service ÷ floor; targets: upload c16 ≥ 0.7, hot read ≥ 1.0, cold read ≥ 0.8, queue hop p50 < 5 ms, gateway RSS < 300 MiB in the 10 MiB burst).\n\n| date | commit | note | upload c16 256K / 2M | hot read c16 256K / 2M | cold read c16 256K / 2M | hop p50 ms | burst gateway peak MiB | bare proxy cold c16 256K / 2M |\n|---|---|---|---|---|---|---|---|---|\n',
    );
  }
  appendFileSync(historyFile, historyLine(result));
  console.log(`\nwritten: bench/results/latest.json, latest.md; history line appended`);
}
