import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { failedByStalling, ingestJobFromMetadata } from '@imagehost/jobs';
import { imageObjectsPrefix } from '@imagehost/keys';
import {
  FaultProxy,
  TestStack,
  fixtures,
  metricSample,
  request,
  testBackendSettings,
  timed,
  uploadImage,
  waitFor,
  type HttpResult,
} from '@imagehost/testing';

// Faults injected for real: every service reaches Redis, MongoDB and S3 through a TCP proxy
// that refuses, blackholes, slows or cuts connections, and processes are killed with -9.
// After each fault the system must keep the promises of the reliability issue: every 201/202
// ends as a served image, deletions stay deleted, bucket and collection agree, and an outage
// is never a 404 and never a purge.

const S3_TIMEOUT_MS = 1500;
const INGEST_WAIT_MS = 2500;
const JOB_LOCK_MS = 2000;
const SWEEP_GRACE_MS = 4000;

let stack: TestStack;
const proxies = {} as { redis: FaultProxy; mongo: FaultProxy; s3: FaultProxy };
let redis: Redis;

/** Every upload answered with keys, and every image deleted: the invariants are checked on these at the end. */
const accepted = new Map<string, { bytes: Buffer; deleteKey: string; status: number }>();
const deleted = new Set<string>();

function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

beforeAll(async () => {
  const settings = testBackendSettings();
  proxies.redis = await FaultProxy.start(hostAndPort(settings.redisUrl));
  proxies.mongo = await FaultProxy.start(hostAndPort(settings.mongoUrl));
  proxies.s3 = await FaultProxy.start(hostAndPort(settings.s3.endpoint));
  redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  stack = await TestStack.start({
    env: {
      REDIS_URL: proxies.redis.proxiedUrl(settings.redisUrl),
      MONGO_URL: proxies.mongo.proxiedUrl(settings.mongoUrl),
      S3_ENDPOINT: proxies.s3.proxiedUrl(settings.s3.endpoint),
      S3_TIMEOUT_MS: String(S3_TIMEOUT_MS),
      INGEST_WAIT_MS: String(INGEST_WAIT_MS),
      JOB_LOCK_MS: String(JOB_LOCK_MS),
      SWEEP_INTERVAL_MS: '1000',
      SWEEP_GRACE_MS: String(SWEEP_GRACE_MS),
      SUPERSEDED_REAP_DELAY_MS: '200',
      // Every read goes to S3, so an S3 fault shows on GET.
      VERSION_CACHE_BYTES: '0',
    },
  });
});

afterEach(() => {
  for (const proxy of Object.values(proxies)) {
    proxy.setMode('pass');
    proxy.setLatency(0);
    proxy.cutAfterClientBytes(null);
  }
});

afterAll(async () => {
  await stack.stop();
  redis.disconnect();
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
}, 120_000);

async function store(bytes: Buffer, expected: readonly number[] = [201]): Promise<HttpResult> {
  const result = await uploadImage(stack.baseUrl, bytes, 'photo.png');
  expect(expected).toContain(result.status);
  if (result.status === 201 || result.status === 202) {
    accepted.set(String(result.json?.image_key), { bytes, deleteKey: String(result.json?.delete_key), status: result.status });
  }
  return result;
}

async function remove(imageKey: string, deleteKey: string): Promise<HttpResult> {
  return request(stack.url(`/${imageKey}`), { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete_key: deleteKey }) });
}

async function readyz(opsUrl: string): Promise<number> {
  return (await request(`${opsUrl}/readyz`)).status;
}

async function servedBytes(imageKey: string): Promise<Buffer | undefined> {
  const view = await request(stack.url(`/${imageKey}`));
  return view.status === 200 ? view.body : undefined;
}

/** A distinct small PNG per call, so every upload is its own image. */
let seed = 0;
async function freshPng(): Promise<Buffer> {
  seed += 1;
  return fixtures.rgbPng(8 + (seed % 50), 8 + Math.floor(seed / 50));
}

describe('Redis', () => {
  it('down at gateway start: not ready, POST answers 503 within a second, recovers without a restart', async () => {
    await stack.service('gateway').stop();
    proxies.redis.setMode('refuse');
    const gateway = await stack.startService('gateway');
    expect(await readyz(gateway.opsUrl)).toBe(503);
    const objectsBefore = await stack.objectKeys();

    const png = await fixtures.onePixelPng();
    const { value: refused, ms } = await timed(() => uploadImage(stack.baseUrl, png, 'a.png'));
    expect({ status: refused.status, code: refused.json?.code }).toEqual({ status: 503, code: 'BACKEND_UNAVAILABLE' });
    expect(ms).toBeLessThan(1000);
    expect(await stack.objectKeys()).toEqual(objectsBefore);

    proxies.redis.setMode('pass');
    await waitFor('the gateway to become ready', async () => ((await readyz(gateway.opsUrl)) === 200 ? true : undefined), 20_000, 250);
    await store(await freshPng());
    expect(gateway.exit).toBeUndefined();
  });

  it('restarted mid-run (connections cut, refused for 2 s): every upload is answered, and the system recovers', async () => {
    const results: Promise<HttpResult>[] = [];
    let answered = 0;
    const uploads = (async () => {
      for (let i = 0; i < 12; i++) {
        results.push(store(await freshPng(), [201, 202, 503]).finally(() => (answered += 1)));
        // Paces the uploads across the restart: no state is waited for here.
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    await waitFor('an upload to be answered before the restart', async () => (answered > 0 ? true : undefined), 10_000, 10);
    proxies.redis.setMode('refuse');
    // The restart's length is the behaviour under test: Redis refuses for 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    proxies.redis.setMode('pass');
    await uploads;
    // Each is 201/202 (it rode through the blip) or 503 (refused while Redis was away): `store` checks.
    await Promise.all(results);
    await waitFor('the gateway to become ready again', async () => ((await readyz(stack.service('gateway').opsUrl)) === 200 ? true : undefined), 20_000, 250);
    await store(await freshPng());
  });

  it('flushed with uploads waiting: the sweep enqueues their lost jobs again and their keys work', async () => {
    await stack.service('ingest').stop();
    const waiting = await Promise.all([0, 1, 2, 3].map(async () => store(await freshPng(), [202])));
    // What FLUSHALL does to this stack: every key under its prefix is gone (other suites share the server).
    const prefix = stack.env.QUEUE_PREFIX ?? '';
    let flushed = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) flushed += await redis.del(...keys);
    }
    expect(flushed).toBeGreaterThan(0);
    expect(await stack.jobCounts()).toMatchObject({ ingest: { waiting: 0 } });

    const ingest = await stack.startService('ingest');
    for (const result of waiting) {
      const key = String(result.json?.image_key);
      const served = await waitFor(`${key} to be reconciled`, () => servedBytes(key), 30_000, 250);
      expect(served).toEqual(accepted.get(key)?.bytes);
    }
    const reaperMetrics = (await request(`${stack.service('reaper').opsUrl}/metrics`)).body.toString('utf8');
    expect(metricSample(reaperMetrics, 'imagehost_uploads_reingested_total')).toBeGreaterThanOrEqual(4);
    const first = waiting[0]?.json;
    expect((await remove(String(first?.image_key), String(first?.delete_key))).status).toBe(200);
    deleted.add(String(first?.image_key));
    expect(ingest.exit).toBeUndefined();
  });
});

describe('MongoDB unreachable', () => {
  it('GET is 503 (never 404), uploads wait in the queue, nothing is purged; all recovers', async () => {
    const kept = await store(await freshPng());
    const keptKey = String(kept.json?.image_key);
    proxies.mongo.setMode('refuse');
    proxies.mongo.cutAll();

    const { value: view, ms } = await timed(() => request(stack.url(`/${keptKey}`)));
    expect({ status: view.status, code: view.json?.code }).toEqual({ status: 503, code: 'BACKEND_UNAVAILABLE' });
    expect(ms).toBeLessThan(6000);
    expect((await request(stack.url('/AAAAAAAAAAAAAAAA'))).status).toBe(503);
    expect((await remove(keptKey, String(kept.json?.delete_key))).status).toBe(503);
    const reapJobs = async () => metricSample((await request(`${stack.service('reaper').opsUrl}/metrics`)).body.toString('utf8'), 'imagehost_jobs_total', { queue: 'reap' });
    const queuedAt = Date.now();
    const queued = await store(await freshPng(), [202]);
    expect(await readyz(stack.service('reaper').opsUrl)).toBe(503);
    // Sweeps run every second meanwhile; none may take anything, not even once the upload's
    // object is past the sweep's grace (that window is the behaviour under test): two sweeps after it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, queuedAt + SWEEP_GRACE_MS - Date.now())));
    const reapJobsPastGrace = await reapJobs();
    await waitFor('two sweeps to run past the grace', async () => ((await reapJobs()) >= reapJobsPastGrace + 2 ? true : undefined), 15_000, 100);
    expect(await stack.objects.listObjectKeys(imageObjectsPrefix(keptKey))).toHaveLength(1);

    proxies.mongo.setMode('pass');
    const queuedKey = String(queued.json?.image_key);
    expect(await waitFor('the queued upload to be ingested', () => servedBytes(queuedKey), 40_000, 250)).toEqual(accepted.get(queuedKey)?.bytes);
    expect(await servedBytes(keptKey)).toEqual(accepted.get(keptKey)?.bytes);
  });
});

describe('S3', () => {
  it('blackholed: GET and POST answer 503 within the S3 timeout, memory is returned, sockets do not pile up', async () => {
    const image = await store(await freshPng());
    proxies.s3.setMode('blackhole');
    const reads = await Promise.all(Array.from({ length: 30 }, () => timed(() => request(stack.url(`/${String(image.json?.image_key)}`)))));
    for (const { value, ms } of reads) {
      expect(value.status).toBe(503);
      expect(ms).toBeLessThan(S3_TIMEOUT_MS + 1500);
    }
    const png = await fixtures.onePixelPng();
    const { value: upload, ms } = await timed(() => uploadImage(stack.baseUrl, png, 'b.png'));
    expect(upload.status).toBe(503);
    expect(ms).toBeLessThan(S3_TIMEOUT_MS + 1500);
    const gatewayMetrics = (await request(`${stack.service('gateway').opsUrl}/metrics`)).body.toString('utf8');
    expect(metricSample(gatewayMetrics, 'imagehost_upload_memory_bytes')).toBe(0);
    // Timed-out calls destroy their sockets: what stays open is at most a few probes.
    await waitFor('timed-out S3 sockets to close', async () => (proxies.s3.stats().open <= 6 ? true : undefined), 5000);
    proxies.s3.setMode('pass');
    expect(await servedBytes(String(image.json?.image_key))).toEqual(accepted.get(String(image.json?.image_key))?.bytes);
  });

  it('slow (300 ms per chunk): reads and uploads still succeed', async () => {
    proxies.s3.setLatency(300);
    const result = await store(await freshPng(), [201, 202]);
    expect(await waitFor('the slow upload to be served', () => servedBytes(String(result.json?.image_key)), 20_000, 250)).toEqual(
      accepted.get(String(result.json?.image_key))?.bytes,
    );
  });

  it('a connection cut mid-PUT leaves no object, partial or whole', async () => {
    const before = new Set(await stack.objectKeys());
    proxies.s3.cutAfterClientBytes(100_000);
    proxies.s3.cutAll();
    const big = await fixtures.noisePng(500, 500);
    const result = await uploadImage(stack.baseUrl, big, 'big.png');
    expect(result.status).toBe(503);
    proxies.s3.cutAfterClientBytes(null);
    expect((await stack.objectKeys()).filter((key) => !before.has(key))).toEqual([]);
  });
});

describe('process kills', () => {
  it('ingest killed with -9 mid-job: the job is redelivered, one record and one object', async () => {
    proxies.mongo.setMode('blackhole');
    const result = await store(await freshPng(), [202]);
    const key = String(result.json?.image_key);
    await waitFor('the job to be running', async () => ((await stack.jobCounts()).ingest.active === 1 ? true : undefined));
    await stack.service('ingest').stop('SIGKILL');
    proxies.mongo.setMode('pass');
    proxies.mongo.cutAll();
    await stack.startService('ingest');
    expect(await waitFor('the redelivered job to finish', () => servedBytes(key), 30_000, 250)).toEqual(accepted.get(key)?.bytes);
    expect(await stack.objects.listObjectKeys(imageObjectsPrefix(key))).toHaveLength(1);
    expect(await stack.images.findMany([key])).toHaveProperty('size', 1);
  });

  it('a rolling restart of the ingest workers (SIGTERM, one at a time) under uploads loses nothing', async () => {
    await stack.startService('ingest');
    const failedBefore = (await stack.jobCounts()).ingest.failed;
    const results: Promise<HttpResult>[] = [];
    let uploading = true;
    const uploads = (async () => {
      for (let i = 0; i < 200 && uploading; i++) {
        results.push(store(await freshPng(), [201, 202]));
        // Paces the uploads across the restarts: no state is waited for here.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    for (let round = 0; round < 2; round++) {
      const [oldest] = stack.processes.filter((p) => p.name === 'ingest' && p.exit === undefined);
      await oldest?.stop('SIGTERM');
      expect(oldest?.exit).toEqual({ code: 0, signal: null });
      await stack.startService('ingest');
    }
    uploading = false;
    await uploads;
    const answered = await Promise.all(results);
    expect(answered.length).toBeGreaterThan(5);
    for (const result of answered) {
      const key = String(result.json?.image_key);
      expect(await waitFor(`${key} to be served`, () => servedBytes(key), 20_000, 250)).toEqual(accepted.get(key)?.bytes);
    }
    expect((await stack.jobCounts()).ingest.failed).toBe(failedBefore);
  });

  it('a job whose worker dies every time fails after its stall count, and the queue keeps flowing', async () => {
    // 36 megapixels in 100 progressive scans (the most accepted): about two seconds of
    // decoding per attempt, long enough to kill the worker that holds it, every time.
    const slow = await fixtures.manyScansJpeg(100, 6000, 6000);
    await Promise.all(stack.processes.filter((p) => p.name === 'ingest').map((p) => p.stop()));
    const poison = await uploadImage(stack.baseUrl, slow, 'poison.jpg');
    expect(poison.status).toBe(202);
    const poisonKey = String(poison.json?.image_key);
    const jobs = await stack.ingestQueue.getJobs(['active', 'waiting']);
    const poisonJobId = jobs.find((job) => (job.data as { imageKey?: string }).imageKey === poisonKey)?.id ?? '';
    await stack.startService('ingest');
    for (let death = 1; death <= 3; death++) {
      // Running in the current worker: taken (again) after the previous one died with it.
      await waitFor(
        `the poison job to run (time ${death})`,
        async () => {
          const job = await stack.ingestQueue.getJob(poisonJobId);
          return job !== undefined && job.attemptsStarted >= death && (await job.getState()) === 'active' ? true : undefined;
        },
        20_000,
        50,
      );
      await stack.service('ingest').stop('SIGKILL');
      await stack.startService('ingest');
    }
    const failed = await waitFor(
      'the poison job to fail',
      async () => {
        const job = await stack.ingestQueue.getJob(poisonJobId);
        return job !== undefined && (await job.getState()) === 'failed' ? job : undefined;
      },
      20_000,
      250,
    );
    expect(failedByStalling(failed.failedReason)).toBe(true);
    await store(await freshPng());
    // Failed for good: the sweep takes its object instead of running it again.
    await waitFor('the poison upload to be removed', async () => ((await stack.objects.listObjectKeys(imageObjectsPrefix(poisonKey))).length === 0 ? true : undefined), 20_000, 250);
    expect((await request(stack.url(`/${poisonKey}`))).status).toBe(404);
  }, 120_000);
});

describe('duplicates', () => {
  it('the same ingest job delivered twice and a purge run twice leave the state of one', async () => {
    const result = await store(await freshPng(), [201, 202]);
    const key = String(result.json?.image_key);
    await waitFor(`${key} to be served`, () => servedBytes(key), 20_000, 250);
    const [objectKey] = await stack.objects.listObjectKeys(imageObjectsPrefix(key));
    const job = ingestJobFromMetadata((await stack.objects.objectMetadata(objectKey ?? '')) ?? {});
    expect(job?.imageKey).toBe(key);
    const again = await stack.ingestQueue.add('ingest', job, { jobId: `duplicate-of-${key}` });
    await waitFor('the duplicate to finish', async () => ((await again.getState()) === 'completed' ? true : undefined));
    expect((await stack.images.findMany([key])).get(key)?.versionId).toBe(job?.versionId);
    expect(await servedBytes(key)).toEqual(accepted.get(key)?.bytes);
    await again.remove();

    expect((await remove(key, String(result.json?.delete_key))).status).toBe(200);
    deleted.add(key);
    await Promise.all([1, 2].map((n) => stack.reapQueue.add('reap', { target: 'image', imageKey: key }, { jobId: `twice-${n}-${key}` })));
    await waitFor('the purges to finish', async () => ((await stack.objects.listObjectKeys(imageObjectsPrefix(key))).length === 0 ? true : undefined), 15_000);
  });
});

describe('after all faults', () => {
  it('every accepted image is served as uploaded, deleted ones stay 404, bucket and collection agree', async () => {
    for (const [key, { bytes }] of accepted) {
      if (deleted.has(key)) continue;
      expect([key, await waitFor(`${key} to be served`, () => servedBytes(key), 30_000, 250)]).toEqual([key, bytes]);
    }
    for (const key of deleted) expect((await request(stack.url(`/${key}`))).status).toBe(404);
    await stack.waitUntilConsistent(30_000);
    for (const service of stack.processes.filter((p) => p.exit === undefined)) expect(await readyz(service.opsUrl)).toBe(200);
  });
});
