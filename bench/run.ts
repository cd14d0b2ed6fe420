// `npm run bench`: the service against the physical floor of the same work, side by side on
// the same backends in one run. Prints a table of ratios (service ÷ floor) and writes it as
// JSON and Markdown into bench/results/, with a line appended to bench/results/history.md.
import { cpus, totalmem } from 'node:os';
import sharp from 'sharp';
import { CELL_MS, MiB, partial, runs, startBench, stopBench } from './bench-context.js';
import { currentCommit, fmt } from './measure.js';
import { OHA_VERSION } from './oha.js';
import { benchBurst, benchColdReads, benchDeletes, benchHotReads, benchLookups, benchUploads, unloadedQueueHop } from './phases.js';
import { writeResults } from './results-files.js';

async function main(): Promise<void> {
  const started = new Date();
  const bench = await startBench();

  await benchUploads(bench);
  await benchHotReads(bench);
  await benchLookups(bench);
  await benchColdReads(bench);
  const { purgeSeconds, deletedCount } = await benchDeletes(bench);
  const hop = unloadedQueueHop(bench);

  bench.rss.stop();
  const steadyPeaks = { ...bench.rss.peaks };
  if (!runs('burst')) {
    await stopBench(bench);
    console.log('\nBENCH_ONLY without burst: nothing written');
    return;
  }
  console.log(
    `memory     peak RSS over the run: ${Object.entries(steadyPeaks).map(([name, bytes]) => `${name} ${fmt(bytes / MiB)} MiB`).join(', ')}`,
  );
  const burst = await benchBurst(bench);
  await stopBench(bench);

  if (partial) {
    console.log('\nBENCH_ONLY or BENCH_CLIENTS set: nothing written');
    return;
  }
  const machine = { cores: cpus().length, memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips, oha: OHA_VERSION };
  writeResults(
    {
      date: started.toISOString(),
      commit: currentCommit(),
      machine,
      backends: bench.backends.sources,
      cellMs: CELL_MS,
      cells: bench.cells,
      queueHop: hop,
      memory: { steadyPeakRssBytes: steadyPeaks, burst },
      purgeSeconds,
    },
    deletedCount,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
