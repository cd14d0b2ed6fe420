import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startLocalRedis } from '@imagehost/backends';
import { FaultProxy, TestStack, fixtures, metricSample, request, testBackendSettings, timed, uploadImage, waitFor, type HttpResult } from '@imagehost/testing';

// A Redis that hangs (a partition without resets, a frozen server) rather than refusing:
// connections stay open and commands get no answer. Uploads must be refused 503 within
// REDIS_DEADLINE_MS (+1 s), reads and deletes go on, /metrics answers, and once Redis is back
// uploads succeed without a restart and nothing is left behind. Run twice: with the fault
// proxy holding every byte, and with the server itself stopped by SIGSTOP.

const DEADLINE_MS = 1500;
const STACK_ENV = {
  REDIS_DEADLINE_MS: String(DEADLINE_MS),
  INGEST_WAIT_MS: '2500',
  // The per-client limits are Redis calls on the request path: both on, so both are bounded.
  UPLOAD_RATE_LIMIT: '10000',
  KEY_FAILURE_RATE_LIMIT: '10000',
  SWEEP_INTERVAL_MS: '1000',
  SWEEP_GRACE_MS: '3000',
  VERSION_CACHE_BYTES: '0',
};

let seed = 0;
async function freshPng(): Promise<Buffer> {
  seed += 1;
  return fixtures.rgbPng(9 + (seed % 40), 9 + Math.floor(seed / 40));
}

async function remove(stack: TestStack, json: HttpResult['json']): Promise<HttpResult> {
  return request(stack.url(`/${String(json?.image_key)}`), {
    method: 'DELETE',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ delete_key: String(json?.delete_key) }),
  });
}

/** The whole observable contract through one hang of Redis, started by `hang` and ended by `thaw`. */
async function ridesThroughAHang(stack: TestStack, hang: () => void, thaw: () => void): Promise<void> {
  const keptBytes = await freshPng();
  const kept = await uploadImage(stack.baseUrl, keptBytes, 'kept.png');
  const doomed = await uploadImage(stack.baseUrl, await freshPng(), 'doomed.png');
  expect([kept.status, doomed.status]).toEqual([201, 201]);
  const objectsBefore = (await stack.objectKeys()).sort();

  hang();
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { value: refused, ms } = await timed(() => uploadImage(stack.baseUrl, keptBytes, 'hung.png'));
      expect({ status: refused.status, code: refused.json?.code }).toEqual({ status: 503, code: 'BACKEND_UNAVAILABLE' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(ms).toBeLessThan(DEADLINE_MS + 1000);
    }

    const { value: view, ms: viewMs } = await timed(() => request(stack.url(`/${String(kept.json?.image_key)}`)));
    expect(view.status).toBe(200);
    expect(view.body.equals(keptBytes)).toBe(true);
    expect(viewMs).toBeLessThan(1000);

    const { value: scrape, ms: scrapeMs } = await timed(() => request(`${stack.service('gateway').opsUrl}/metrics`));
    expect(scrape.status).toBe(200);
    expect(scrapeMs).toBeLessThan(2000);
    const metrics = scrape.body.toString('utf8');
    expect(metricSample(metrics, 'imagehost_backend_up', { backend: 'redis' })).toBe(0);
    expect(metricSample(metrics, 'imagehost_backend_up', { backend: 'mongodb' })).toBe(1);
    expect(metricSample(metrics, 'imagehost_http_request_duration_seconds_count', { method: 'POST', status_code: '503' })).toBeGreaterThanOrEqual(3);
    // Each refusal is a Redis call that passed its deadline, timed by operation.
    const rateLimitCalls = { backend: 'redis', operation: 'rate limit uploads' };
    expect(metricSample(metrics, 'imagehost_backend_call_duration_seconds_count', { ...rateLimitCalls, outcome: 'unavailable' })).toBeGreaterThanOrEqual(3);
    expect(metricSample(metrics, 'imagehost_backend_call_duration_seconds_count', { ...rateLimitCalls, outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(metricSample(metrics, 'imagehost_backend_call_duration_seconds_count', { backend: 'redis', operation: 'enqueue ingest', outcome: 'ok' })).toBeGreaterThanOrEqual(2);

    // A DELETE needs MongoDB only; its purge is queued best-effort within the deadline.
    const { value: deletion, ms: deleteMs } = await timed(() => remove(stack, doomed.json));
    expect(deletion.status).toBe(200);
    expect(deleteMs).toBeLessThan(DEADLINE_MS + 1000);
    expect((await request(stack.url(`/${String(doomed.json?.image_key)}`))).status).toBe(404);

    // Nothing the refused uploads sent stayed in the bucket.
    expect((await stack.objectKeys()).sort()).toEqual(objectsBefore);
  } finally {
    thaw();
  }

  const recovered = await waitFor(
    'an upload to succeed after the thaw',
    async () => {
      const result = await uploadImage(stack.baseUrl, await freshPng(), 'after.png');
      expect([201, 202, 503]).toContain(result.status);
      return result.status === 201 ? result : undefined;
    },
    30_000,
    250,
  );
  expect((await request(stack.url(`/${String(recovered.json?.image_key)}`))).status).toBe(200);
  // The tombstone is purged, the refused uploads' late jobs (Redis ran them on waking) found
  // no object and recorded nothing: bucket and collection agree, and hold just two images.
  await stack.waitUntilConsistent(30_000);
  expect((await stack.liveRecords()).map((record) => record._id).sort()).toEqual([String(kept.json?.image_key), String(recovered.json?.image_key)].sort());
  expect((await request(stack.url(`/${String(kept.json?.image_key)}`))).body.equals(keptBytes)).toBe(true);
  for (const service of stack.processes) expect(service.exit).toBeUndefined();
}

describe('Redis blackholed by a proxy that holds every byte', () => {
  let stack: TestStack;
  let proxy: FaultProxy;

  beforeAll(async () => {
    const { redisUrl } = testBackendSettings();
    const target = new URL(redisUrl);
    proxy = await FaultProxy.start({ host: target.hostname, port: Number(target.port) });
    stack = await TestStack.start({ env: { ...STACK_ENV, REDIS_URL: proxy.proxiedUrl(redisUrl) } });
  });
  afterAll(async () => {
    proxy.setMode('pass');
    await stack.stop();
    await proxy.stop();
  }, 120_000);

  it('POST answers 503 within the deadline, GET and DELETE go on, /metrics answers; after it, uploads succeed and nothing is left', async () => {
    await ridesThroughAHang(
      stack,
      () => proxy.setMode('blackhole'),
      () => proxy.setMode('pass'),
    );
  });

  it('with Redis refusing, /metrics answers at once with redis down and the HTTP metrics intact', async () => {
    proxy.setMode('refuse');
    try {
      const { value: scrape, ms } = await timed(() => request(`${stack.service('gateway').opsUrl}/metrics`));
      expect(scrape.status).toBe(200);
      expect(ms).toBeLessThan(2000);
      const metrics = scrape.body.toString('utf8');
      expect(metricSample(metrics, 'imagehost_backend_up', { backend: 'redis' })).toBe(0);
      expect(metricSample(metrics, 'imagehost_http_request_duration_seconds_count', { method: 'POST', status_code: '201' })).toBeGreaterThan(0);
    } finally {
      proxy.setMode('pass');
    }
  });
});

describe('Redis stopped with SIGSTOP', () => {
  let stack: TestStack;
  let redis: Awaited<ReturnType<typeof startLocalRedis>>;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'imagehost-hung-redis-'));
    redis = await startLocalRedis(dataDir);
    stack = await TestStack.start({ env: { ...STACK_ENV, REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    process.kill(redis.process.pid, 'SIGCONT');
    await stack.stop();
    await redis.process.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('POST answers 503 within the deadline, GET and DELETE go on, /metrics answers; after SIGCONT, uploads succeed and nothing is left', async () => {
    await ridesThroughAHang(
      stack,
      () => process.kill(redis.process.pid, 'SIGSTOP'),
      () => process.kill(redis.process.pid, 'SIGCONT'),
    );
  });
});
