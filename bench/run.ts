// `npm run bench`: the service against the physical floor of the same work, side by side on
// the same backends in one run. Prints a table of ratios (service ÷ floor) and writes it as
// JSON and Markdown into bench/results/, with a line appended to bench/results/history.md.
import { fork } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'minio';
import sharp from 'sharp';
import { backendEnvironment, provideBackends } from '@imagehost/backends';
import { ImageRepository, connectDatabase, type ImageRecord } from '@imagehost/db';
import { validateImage } from '@imagehost/image-format/validate';
import { generateImageKey, generateVersionId, imageObjectsPrefix, objectKeyFor } from '@imagehost/keys';
import { ObjectStore } from '@imagehost/storage';
import { TestStack, multipartBody, readRss, uniqueName } from '@imagehost/testing';
import { httpClient, runLoad, type LoadResult } from './load.js';
import { cpuPerRequest, currentCommit, fmt, type Measured, merge, noiseJpeg } from './measure.js';
import { OHA_VERSION, ohaBinary, runOha, type OhaResult } from './oha.js';
import { CpuMeter, pidListeningOn } from './process-cpu.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 4000);
/** Each cell runs service and floor in this many slices per side, ordered service, floor, floor, service. */
const SLICES = 2;
/** Unmeasured load before the cold cells (see there). */
const WARM_UP_MS = 2000;
const CONCURRENCY = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
/** `BENCH_ONLY=upload,cold` runs only those parts (upload, hot, lookup, cold, delete, burst) and writes no results. */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter((part) => part !== ''));
const runs = (part: string) => ONLY.size === 0 || ONLY.has(part);
const partial = ONLY.size > 0 || process.env.BENCH_CLIENTS !== undefined;
const KiB = 1024;
const MiB = 1024 * KiB;

function sampleRss(pids: Record<string, number>, intervalMs = 25) {
  const peaks: Record<string, number> = Object.fromEntries(Object.keys(pids).map((name) => [name, 0]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) peaks[name] = Math.max(peaks[name] ?? 0, readRss(pid));
  }, intervalMs);
  return { peaks, stop: () => clearInterval(timer) };
}

interface Cell {
  scenario: string;
  size: string;
  concurrency: number;
  service: Measured;
  floor?: Measured;
  ratio?: number;
  /** Uploads only: the gateway's wait for the ingest result minus the worker's time on the job. */
  queueHop?: { samples: number; p50Ms: number; p99Ms: number };
}

/** Queue-hop figures from the gateway's `ingest result` log lines. */
function queueHop(lines: readonly string[]): { samples: number; p50Ms: number; p99Ms: number } {
  const hops = lines
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; hopMs?: number };
        return entry.msg === 'ingest result' && typeof entry.hopMs === 'number' ? [entry.hopMs] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a - b);
  return { samples: hops.length, p50Ms: hops[Math.floor(hops.length * 0.5)] ?? Number.NaN, p99Ms: hops[Math.floor(hops.length * 0.99)] ?? Number.NaN };
}

/** A closed loop of this process, in the shape of the load generator's results. */
function fromLoad(result: LoadResult): OhaResult {
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

const PROCESSES = ['gateway', 'pass-through', 'ingest', 'reaper', 'redis', 'mongodb', 's3', 'bench'] as const;

async function main(): Promise<void> {
  const started = new Date();
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
  // Every process a request may cost CPU in; a backend not on this machine is left out.
  const portOf = (url: string) => Number(new URL(url).port);
  const cpuPids: Record<string, number | undefined> = {
    ...pids,
    redis: pidListeningOn(portOf(backends.settings.redisUrl)),
    mongodb: pidListeningOn(portOf(backends.settings.mongoUrl)),
    s3: pidListeningOn(portOf(backends.settings.s3.endpoint)),
    bench: process.pid,
  };
  const metered = async (run: () => Promise<OhaResult>): Promise<Measured> => {
    const meter = new CpuMeter(cpuPids);
    meter.start();
    const result = await run();
    return { ...result, cpuMs: meter.stop() };
  };
  /** Service and floor in slices ordered service, floor, floor, service, so a drift in the machine's speed weighs on both. */
  const paired = async (service: () => Promise<OhaResult>, floor: () => Promise<OhaResult>) => {
    const services: Measured[] = [];
    const floors: Measured[] = [];
    for (let slice = 0; slice < SLICES; slice++) {
      if (slice % 2 === 0) {
        services.push(await metered(service));
        floors.push(await metered(floor));
      } else {
        floors.push(await metered(floor));
        services.push(await metered(service));
      }
    }
    return { service: merge(services), floor: merge(floors) };
  };

  // The floor: the same work with no architecture around it, on the same servers.
  const floorObjects = new ObjectStore({ ...backends.settings.s3, bucket: uniqueName('floor') });
  await floorObjects.ensureBucket();
  const floorConnection = connectDatabase({ url: backends.settings.mongoUrl, dbName: uniqueName('floor') });
  const floorImages = new ImageRepository(floorConnection);
  await floorImages.prepare();

  const cells: Cell[] = [];
  const sizes = [
    { label: '256 KiB', bytes: await noiseJpeg(256 * KiB) },
    { label: '2 MiB', bytes: await noiseJpeg(2 * MiB) },
  ];
  const report = (cell: Cell) => {
    cells.push(cell);
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
  };

  // Upload: POST / (driven by oha) against PutObject + the same sharp validation + one insert
  // (driven from this process, whose CPU is then the floor's own).
  for (const size of runs('upload') ? sizes : []) {
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const bodyFile = join(scratch, `upload-${size.bytes.length}.multipart`);
    writeFileSync(bodyFile, body);
    for (const concurrency of CONCURRENCY) {
      const gatewayLines = stack.service('gateway').lines;
      const linesBefore = gatewayLines.length;
      const { service, floor } = await paired(
        () => runOha(oha, { target: { url: stack.url('/') }, concurrency, durationMs: CELL_MS / SLICES, method: 'POST', bodyFile, contentType }),
        async () =>
          fromLoad(
            await runLoad({
              concurrency,
              durationMs: CELL_MS / SLICES,
              op: async () => {
                const imageKey = generateImageKey();
                const versionId = generateVersionId();
                const objectKey = objectKeyFor(imageKey, versionId);
                await floorObjects.putObject(objectKey, size.bytes, 'image/jpeg');
                const image = await validateImage(size.bytes, { maxImagePixels: 40_000_000, maxImageSide: 32_767 });
                const now = new Date();
                const record: ImageRecord = {
                  _id: imageKey, versionId, objectKey, contentType: image.contentType, bytes: size.bytes.length, width: image.width, height: image.height,
                  sha256: 'x'.repeat(64), deleteKeyHash: 'x'.repeat(64), updateKeyHash: 'x'.repeat(64), createdAt: now, updatedAt: now, deletedAt: null,
                };
                await floorImages.insertIfAbsent(record);
              },
            }),
          ),
      );
      const hop = queueHop(gatewayLines.slice(linesBefore));
      report({ scenario: 'upload', size: size.label, concurrency, service, floor, ratio: service.perSecond / floor.perSecond, queueHop: hop });
    }
  }

  // Reads: one image per size, read hot; then distinct images in random order (cold). The
  // floor is the same generator reading the same objects straight from S3 (presigned URLs).
  for (const size of runs('hot') ? sizes : []) {
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const posted = await http.send(stack.url('/'), 'POST', body, { 'content-type': contentType });
    const imageKey = (JSON.parse(posted.body.toString('utf8')) as { image_key: string }).image_key;
    const record = await stack.images.findLive(imageKey);
    if (record === undefined) throw new Error('hot image not stored');
    const direct = await presigner.presignedGetObject(stack.objects.bucket, record.objectKey, 24 * 3600);
    for (const concurrency of CONCURRENCY) {
      const { service, floor } = await paired(
        () => runOha(oha, { target: { url: stack.url(`/${imageKey}`) }, concurrency, durationMs: CELL_MS / SLICES }),
        () => runOha(oha, { target: { url: direct }, concurrency, durationMs: CELL_MS / SLICES }),
      );
      report({ scenario: 'hot read', size: size.label, concurrency, service, floor, ratio: service.perSecond / floor.perSecond });
    }
  }

  // What the read path pays before any byte: one record lookup by _id on the MongoDB-protocol
  // server, measured alone (the floor of reads has none, since it knows the object key).
  const anyKey = (await stack.liveRecords())[0]?._id ?? '';
  for (const concurrency of runs('lookup') ? CONCURRENCY : []) {
    const lookups = await metered(async () => fromLoad(await runLoad({ concurrency, durationMs: CELL_MS, op: async () => void (await stack.images.findAny(anyKey)) })));
    report({ scenario: 'lookup', size: 'record', concurrency, service: lookups });
  }

  // The bound of any proxying gateway here: a bare pass-through in its own process (see
  // pass-through.ts), read in the same cold passes against the same floor.
  const passThrough = fork(fileURLToPath(new URL('./pass-through.js', import.meta.url)), {
    env: { ...process.env, PASS_THROUGH_S3: JSON.stringify({ ...backends.settings.s3, bucket: stack.objects.bucket }) },
  });
  // Its CPU counts in the bare-proxy cells as the gateway's does in the service's.
  cpuPids['pass-through'] = passThrough.pid;
  const passThroughPort = await new Promise<number>((resolve, reject) => {
    passThrough.once('message', (message) => resolve((message as { port: number }).port));
    passThrough.once('exit', () => reject(new Error('the pass-through proxy exited')));
  });

  const coldCounts: Record<string, number> = { '256 KiB': 2000, '2 MiB': 300 };
  for (const size of runs('cold') ? sizes : []) {
    const count = coldCounts[size.label] ?? 100;
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const keys: string[] = [];
    await runLoad({
      concurrency: 16,
      durationMs: 10 * 60_000,
      maxOps: count,
      op: async () => {
        const response = await http.send(stack.url('/'), 'POST', body, { 'content-type': contentType });
        keys.push((JSON.parse(response.body.toString('utf8')) as { image_key: string }).image_key);
      },
    });
    const records = [...(await stack.images.findMany(keys)).values()];
    const urls = (name: string, lines: readonly string[]) => {
      const file = join(scratch, `${name}-${size.bytes.length}.urls`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      return { urlsFile: file };
    };
    const serviceUrls = urls('service', keys.map((key) => stack.url(`/${key}`)));
    const floorUrls = urls('floor', await Promise.all(records.map((r) => presigner.presignedGetObject(stack.objects.bucket, r.objectKey, 24 * 3600))));
    const passUrls = urls('pass-through', records.map((r) => `http://127.0.0.1:${passThroughPort}/${encodeURIComponent(r.objectKey)}`));
    // Unmeasured: the read path compiled and the garbage of the uploads above collected before
    // the first cell, whose CPU per GET otherwise varied 1.0–1.9 ms between runs. One image
    // only, so the cold images' cache admissions stay untouched.
    const [first] = records;
    if (first !== undefined) {
      const warmUp = { concurrency: 16, durationMs: WARM_UP_MS };
      await runOha(oha, { target: { url: stack.url(`/${first._id}`) }, ...warmUp });
      await runOha(oha, { target: { url: `http://127.0.0.1:${passThroughPort}/${encodeURIComponent(first.objectKey)}` }, ...warmUp });
    }
    for (const concurrency of CONCURRENCY) {
      const floorRun = () => runOha(oha, { target: floorUrls, concurrency, durationMs: CELL_MS / SLICES });
      const { service, floor } = await paired(() => runOha(oha, { target: serviceUrls, concurrency, durationMs: CELL_MS / SLICES }), floorRun);
      report({ scenario: 'cold read', size: `${size.label} ×${count}`, concurrency, service, floor, ratio: service.perSecond / floor.perSecond });
      const bound = await paired(() => runOha(oha, { target: passUrls, concurrency, durationMs: CELL_MS / SLICES }), floorRun);
      report({
        scenario: 'cold read, bare proxy',
        size: `${size.label} ×${count}`,
        concurrency,
        service: bound.service,
        floor: bound.floor,
        ratio: bound.service.perSecond / bound.floor.perSecond,
      });
    }
  }
  passThrough.disconnect();
  delete cpuPids['pass-through'];

  // Delete: DELETEs per second, then the time until the reaper has purged every byte.
  let purgeSeconds = Number.NaN;
  let deletedCount = 0;
  if (runs('delete')) {
    const small = sizes[0]?.bytes ?? Buffer.alloc(0);
    const { body: smallBody, contentType: smallType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: small }]);
    const deletable: { image_key: string; delete_key: string }[] = [];
    await runLoad({
      concurrency: 16,
      durationMs: 10 * 60_000,
      maxOps: 300,
      op: async () => {
        const response = await http.send(stack.url('/'), 'POST', smallBody, { 'content-type': smallType });
        deletable.push(JSON.parse(response.body.toString('utf8')) as { image_key: string; delete_key: string });
      },
    });
    const deletes = await metered(async () =>
      fromLoad(
        await runLoad({
          concurrency: 16,
          durationMs: 10 * 60_000,
          maxOps: deletable.length,
          op: async (index) => {
            const keys = deletable[index];
            if (keys === undefined) throw new Error('no image');
            const response = await http.send(stack.url(`/${keys.image_key}`), 'DELETE', undefined, { 'x-delete-key': keys.delete_key });
            if (response.status !== 200) throw new Error(`DELETE answered ${response.status}`);
            return response.status;
          },
        }),
      ),
    );
    const deletedAt = performance.now();
    for (;;) {
      const left = await Promise.all(deletable.map((k) => stack.objects.listObjectKeys(imageObjectsPrefix(k.image_key))));
      if (left.every((objects) => objects.length === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    purgeSeconds = (performance.now() - deletedAt) / 1000;
    deletedCount = deletable.length;
    report({ scenario: 'delete', size: '256 KiB', concurrency: 16, service: deletes });
    console.log(`delete     all ${deletable.length} purged by the reaper ${fmt(purgeSeconds, 2)} s after the last DELETE`);
  }

  // The queue's own cost on POST, unloaded: the single-client upload cells. (Under load the
  // hop also holds the time a job waits behind others for a worker.)
  const hop = cells.find((c) => c.scenario === 'upload' && c.concurrency === 1 && c.size === '256 KiB')?.queueHop ?? {
    samples: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
  };
  console.log(`queue hop  unloaded (256 KiB, 1 client) p50 ${fmt(hop.p50Ms, 2)} ms p99 ${fmt(hop.p99Ms, 2)} ms over ${hop.samples} uploads`);

  // Memory: 64 clients uploading 10 MiB images at once, at a gateway fresh from start (the
  // earlier phases leave its heap grown and its cache full, which this scenario is not about).
  rss.stop();
  const steadyPeaks = { ...rss.peaks };
  const cleanUp = async () => {
    http.close();
    rmSync(scratch, { recursive: true, force: true });
    await stack.stop();
    for (const key of await floorObjects.listObjectKeys()) await floorObjects.removeObject(key);
    await floorObjects.removeBucket();
    await floorConnection.dropDatabase();
    await floorConnection.close();
    await backends.stop();
  };
  if (!runs('burst')) {
    await cleanUp();
    console.log('\nBENCH_ONLY without burst: nothing written');
    return;
  }
  const big = await noiseJpeg(10 * MiB - 64 * KiB);
  const { body: bigBody, contentType: bigType } = multipartBody([{ name: 'image', filename: 'big.jpg', bytes: big }]);
  await stack.service('gateway').stop();
  const freshGateway = await stack.startService('gateway');
  const gatewayPid = freshGateway.child.pid ?? 0;
  const gatewayBefore = readRss(gatewayPid);
  const burstRss = sampleRss({ gateway: gatewayPid }, 10);
  const burstHttp = httpClient(64);
  const burst = await runLoad({
    concurrency: 64,
    durationMs: 5 * 60_000,
    maxOps: 64,
    op: async () => (await burstHttp.send(stack.url('/'), 'POST', bigBody, { 'content-type': bigType })).status,
  });
  burstHttp.close();
  burstRss.stop();
  const burstPeak = burstRss.peaks.gateway ?? 0;
  const accepted = (burst.statuses['201'] ?? 0) + (burst.statuses['202'] ?? 0);
  const memory = {
    steadyPeakRssBytes: steadyPeaks,
    burst: { uploads: 64, bytesEach: big.length, statuses: burst.statuses, gatewayRssBeforeBytes: gatewayBefore, gatewayPeakRssBytes: burstPeak },
  };
  console.log(
    `memory     peak RSS over the run: ${Object.entries(steadyPeaks).map(([name, bytes]) => `${name} ${fmt(bytes / MiB)} MiB`).join(', ')}`,
  );
  console.log(
    `memory     64 × ${fmt(big.length / MiB, 2)} MiB uploads at once: ${JSON.stringify(burst.statuses)}; gateway RSS ${fmt(gatewayBefore / MiB)} → peak ${fmt(burstPeak / MiB)} MiB (${fmt((burstPeak - gatewayBefore) / Math.max(1, Math.min(accepted, 64)) / MiB, 2)} MiB per accepted upload)`,
  );

  await cleanUp();

  if (partial) {
    console.log('\nBENCH_ONLY or BENCH_CLIENTS set: nothing written');
    return;
  }
  const commit = currentCommit();
  const machine = { cores: cpus().length, memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips, oha: OHA_VERSION };
  const result = { date: started.toISOString(), commit, machine, backends: backends.sources, cellMs: CELL_MS, cells, queueHop: hop, memory, purgeSeconds };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}latest.json`, `${JSON.stringify(result, null, 2)}\n`);

  const lines = [
    `# Benchmark ${result.date} (commit ${commit})`,
    '',
    `${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, sharp ${machine.sharp} (libvips ${machine.vips}); backends: redis ${backends.sources.redis}, mongo ${backends.sources.mongo}, s3 ${backends.sources.s3}. HTTP load from oha ${OHA_VERSION} (reads: service and floor; uploads: service), the upload floor and the lookup from this process. Each timed cell runs ${CELL_MS} ms per side, service and floor in ${SLICES} slices each, ordered service, floor, floor, service; cold reads pick at random from their images (with replacement).`,
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
    `- Purge: all ${deletedCount} deleted images' bytes gone ${fmt(purgeSeconds, 2)} s after the last DELETE.`,
    `- Queue hop on POST (gateway wait − ingest work), one client, 256 KiB: p50 ${fmt(hop.p50Ms, 2)} ms, p99 ${fmt(hop.p99Ms, 2)} ms over ${hop.samples} uploads. Under load it includes the wait behind other jobs (table).`,
    `- Peak RSS over the run: ${Object.entries(steadyPeaks).map(([name, bytes]) => `${name} ${fmt(bytes / MiB)} MiB`).join(', ')}.`,
    `- 64 clients uploading ${fmt(big.length / MiB, 2)} MiB at once: ${JSON.stringify(burst.statuses)}; gateway RSS ${fmt(gatewayBefore / MiB)} MiB before, peak ${fmt(burstPeak / MiB)} MiB.`,
    '',
  ];
  writeFileSync(`${RESULTS_DIR}latest.md`, lines.join('\n'));
  const pick = (scenario: string, size: string, concurrency: number) => cells.find((c) => c.scenario === scenario && c.size.startsWith(size) && c.concurrency === concurrency)?.ratio ?? Number.NaN;
  const historyFile = `${RESULTS_DIR}history.md`;
  if (!existsSync(historyFile)) {
    writeFileSync(
      historyFile,
      '# Benchmark history\n\nOne line per run of `npm run bench` (ratios are service ÷ floor; targets: upload c16 ≥ 0.7, hot read ≥ 1.0, cold read ≥ 0.8, queue hop p50 < 5 ms, gateway RSS < 300 MiB in the 10 MiB burst).\n\n| date | commit | note | upload c16 256K / 2M | hot read c16 256K / 2M | cold read c16 256K / 2M | hop p50 ms | burst gateway peak MiB | bare proxy cold c16 256K / 2M |\n|---|---|---|---|---|---|---|---|---|\n',
    );
  }
  appendFileSync(
    historyFile,
    `| ${result.date} | ${commit} | ${process.env.BENCH_NOTE ?? ''} | ${fmt(pick('upload', '256', 16), 2)} / ${fmt(pick('upload', '2 MiB', 16), 2)} | ${fmt(pick('hot read', '256', 16), 2)} / ${fmt(pick('hot read', '2 MiB', 16), 2)} | ${fmt(pick('cold read', '256', 16), 2)} / ${fmt(pick('cold read', '2 MiB', 16), 2)} | ${fmt(hop.p50Ms, 2)} | ${fmt(burstPeak / MiB)} | ${fmt(pick('cold read, bare proxy', '256', 16), 2)} / ${fmt(pick('cold read, bare proxy', '2 MiB', 16), 2)} |\n`,
  );
  console.log(`\nwritten: bench/results/latest.json, latest.md; history line appended`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
