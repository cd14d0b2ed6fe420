import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageRecord } from '@imagehost/db';
import { validateImage } from '@imagehost/image-format/validate';
import { generateImageKey, generateVersionId, imageObjectsPrefix, objectKeyFor } from '@imagehost/keys';
import { multipartBody, readRss } from '@imagehost/testing';
import { CELL_MS, CONCURRENCY, KiB, MiB, SLICES, WARM_UP_MS, fromLoad, metered, paired, report, runs, sampleRss, type Bench } from './bench-context.js';
import { httpClient, runLoad } from './load.js';
import { fmt, noiseJpeg } from './measure.js';
import { runOha } from './oha.js';

// The phases of `npm run bench`, in the order run.ts runs them; each reports its cells.

export interface QueueHop {
  samples: number;
  p50Ms: number;
  p99Ms: number;
}

/** Queue-hop figures from the gateway's `ingest result` log lines. */
function queueHop(lines: readonly string[]): QueueHop {
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

/**
 * Upload: POST / (driven by oha) against PutObject + the same sharp validation + one insert
 * (driven from this process, whose CPU is then the floor's own).
 */
export async function benchUploads(bench: Bench): Promise<void> {
  const { stack, oha, floorObjects, floorImages } = bench;
  for (const size of runs('upload') ? bench.sizes : []) {
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const bodyFile = join(bench.scratch, `upload-${size.bytes.length}.multipart`);
    writeFileSync(bodyFile, body);
    for (const concurrency of CONCURRENCY) {
      const gatewayLines = stack.service('gateway').lines;
      const linesBefore = gatewayLines.length;
      const { service, floor } = await paired(
        bench,
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
      report(bench, { scenario: 'upload', size: size.label, concurrency, service, floor, ratio: service.perSecond / floor.perSecond, queueHop: hop });
    }
  }
}

/**
 * Hot reads: one image per size, read again and again. The floor is the same generator
 * reading the same object straight from S3 (a presigned URL).
 */
export async function benchHotReads(bench: Bench): Promise<void> {
  const { stack, oha } = bench;
  for (const size of runs('hot') ? bench.sizes : []) {
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const posted = await bench.http.send(stack.url('/'), 'POST', body, { 'content-type': contentType });
    const imageKey = (JSON.parse(posted.body.toString('utf8')) as { image_key: string }).image_key;
    const record = await stack.images.findLive(imageKey);
    if (record === undefined) throw new Error('hot image not stored');
    const direct = await bench.presigner.presignedGetObject(stack.objects.bucket, record.objectKey, 24 * 3600);
    for (const concurrency of CONCURRENCY) {
      const { service, floor } = await paired(
        bench,
        () => runOha(oha, { target: { url: stack.url(`/${imageKey}`) }, concurrency, durationMs: CELL_MS / SLICES }),
        () => runOha(oha, { target: { url: direct }, concurrency, durationMs: CELL_MS / SLICES }),
      );
      report(bench, { scenario: 'hot read', size: size.label, concurrency, service, floor, ratio: service.perSecond / floor.perSecond });
    }
  }
}

/**
 * What the read path pays before any byte: one record lookup by _id on the MongoDB-protocol
 * server, measured alone (the floor of reads has none, since it knows the object key).
 */
export async function benchLookups(bench: Bench): Promise<void> {
  const { stack } = bench;
  const anyKey = (await stack.liveRecords())[0]?._id ?? '';
  for (const concurrency of runs('lookup') ? CONCURRENCY : []) {
    const lookups = await metered(bench, async () => fromLoad(await runLoad({ concurrency, durationMs: CELL_MS, op: async () => void (await stack.images.findAny(anyKey)) })));
    report(bench, { scenario: 'lookup', size: 'record', concurrency, service: lookups });
  }
}

/**
 * Cold reads: distinct images in random order, against presigned S3 reads of the same
 * objects; and the bound of any proxying gateway here, a bare pass-through in its own
 * process (see pass-through.ts), read in the same cold passes against the same floor.
 */
export async function benchColdReads(bench: Bench): Promise<void> {
  const { stack, oha, cpuPids } = bench;
  const passThrough = fork(fileURLToPath(new URL('./pass-through.js', import.meta.url)), {
    env: { ...process.env, PASS_THROUGH_S3: JSON.stringify({ ...bench.backends.settings.s3, bucket: stack.objects.bucket }) },
  });
  // Its CPU counts in the bare-proxy cells as the gateway's does in the service's.
  cpuPids['pass-through'] = passThrough.pid;
  const passThroughPort = await new Promise<number>((resolve, reject) => {
    passThrough.once('message', (message) => resolve((message as { port: number }).port));
    passThrough.once('exit', () => reject(new Error('the pass-through proxy exited')));
  });

  const coldCounts: Record<string, number> = { '256 KiB': 2000, '2 MiB': 300 };
  for (const size of runs('cold') ? bench.sizes : []) {
    const count = coldCounts[size.label] ?? 100;
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'bench.jpg', bytes: size.bytes }]);
    const keys: string[] = [];
    await runLoad({
      concurrency: 16,
      durationMs: 10 * 60_000,
      maxOps: count,
      op: async () => {
        const response = await bench.http.send(stack.url('/'), 'POST', body, { 'content-type': contentType });
        keys.push((JSON.parse(response.body.toString('utf8')) as { image_key: string }).image_key);
      },
    });
    const records = [...(await stack.images.findMany(keys)).values()];
    const urls = (name: string, lines: readonly string[]) => {
      const file = join(bench.scratch, `${name}-${size.bytes.length}.urls`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      return { urlsFile: file };
    };
    const serviceUrls = urls('service', keys.map((key) => stack.url(`/${key}`)));
    const floorUrls = urls('floor', await Promise.all(records.map((r) => bench.presigner.presignedGetObject(stack.objects.bucket, r.objectKey, 24 * 3600))));
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
      const { service, floor } = await paired(bench, () => runOha(oha, { target: serviceUrls, concurrency, durationMs: CELL_MS / SLICES }), floorRun);
      report(bench, { scenario: 'cold read', size: `${size.label} ×${count}`, concurrency, service, floor, ratio: service.perSecond / floor.perSecond });
      const bound = await paired(bench, () => runOha(oha, { target: passUrls, concurrency, durationMs: CELL_MS / SLICES }), floorRun);
      report(bench, {
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
}

export interface DeleteFigures {
  /** From the last DELETE until the reaper had removed every byte (NaN when not run). */
  purgeSeconds: number;
  deletedCount: number;
}

/** Delete: DELETEs per second, then the time until the reaper has purged every byte. */
export async function benchDeletes(bench: Bench): Promise<DeleteFigures> {
  if (!runs('delete')) return { purgeSeconds: Number.NaN, deletedCount: 0 };
  const { stack, http } = bench;
  const small = bench.sizes[0]?.bytes ?? Buffer.alloc(0);
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
  const deletes = await metered(bench, async () =>
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
  const purgeSeconds = (performance.now() - deletedAt) / 1000;
  report(bench, { scenario: 'delete', size: '256 KiB', concurrency: 16, service: deletes });
  console.log(`delete     all ${deletable.length} purged by the reaper ${fmt(purgeSeconds, 2)} s after the last DELETE`);
  return { purgeSeconds, deletedCount: deletable.length };
}

/**
 * The queue's own cost on POST, unloaded: the single-client upload cells. (Under load the
 * hop also holds the time a job waits behind others for a worker.)
 */
export function unloadedQueueHop(bench: Bench): QueueHop {
  const hop = bench.cells.find((c) => c.scenario === 'upload' && c.concurrency === 1 && c.size === '256 KiB')?.queueHop ?? {
    samples: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
  };
  console.log(`queue hop  unloaded (256 KiB, 1 client) p50 ${fmt(hop.p50Ms, 2)} ms p99 ${fmt(hop.p99Ms, 2)} ms over ${hop.samples} uploads`);
  return hop;
}

export interface BurstFigures {
  uploads: number;
  bytesEach: number;
  statuses: Record<string, number>;
  gatewayRssBeforeBytes: number;
  gatewayPeakRssBytes: number;
}

/**
 * Memory: 64 clients uploading 10 MiB images at once, at a gateway fresh from start (the
 * earlier phases leave its heap grown and its cache full, which this scenario is not about).
 */
export async function benchBurst(bench: Bench): Promise<BurstFigures> {
  const { stack } = bench;
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
  console.log(
    `memory     64 × ${fmt(big.length / MiB, 2)} MiB uploads at once: ${JSON.stringify(burst.statuses)}; gateway RSS ${fmt(gatewayBefore / MiB)} → peak ${fmt(burstPeak / MiB)} MiB (${fmt((burstPeak - gatewayBefore) / Math.max(1, Math.min(accepted, 64)) / MiB, 2)} MiB per accepted upload)`,
  );
  return { uploads: 64, bytesEach: big.length, statuses: burst.statuses, gatewayRssBeforeBytes: gatewayBefore, gatewayPeakRssBytes: burstPeak };
}
