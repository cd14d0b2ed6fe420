import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { fixtures, multipartBody } from '@imagehost/testing';
import { TEST_START_MS, expectError, sharedTestGateway, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// GET and HEAD /{image_key} in-process, over fakes: the headers a cache and a browser rely
// on, conditional and range requests, and 404 (never 5xx) for any key that is not an image.

// Versions up to 16 KiB come from the gateway's cache once asked for twice, larger ones are
// streamed from the object store: the images below are on either side of that line.
const ENV = { VERSION_CACHE_MAX_ITEM_BYTES: '16384' };
let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway(ENV);
});

afterEach(async () => {
  await gateway.close();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const LAST_MODIFIED = new Date(TEST_START_MS).toUTCString();

async function store(bytes: Buffer): Promise<string> {
  const posted = await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.png', bytes }]));
  expect(posted.statusCode).toBe(201);
  return posted.json<{ image_key: string }>().image_key;
}

function get(imageKey: string, headers: Record<string, string> = {}) {
  return gateway.request({ method: 'GET', url: `/${imageKey}`, headers });
}

describe.each([
  ['streamed', () => fixtures.rgbaPng(100, 80), 'image/png'],
  ['cached', () => fixtures.baselineJpeg(), 'image/jpeg'],
] as const)('a %s version', (path, make, contentType) => {
  let bytes: Buffer;
  let imageKey: string;

  beforeEach(async () => {
    bytes = await make();
    expect(bytes.length > 16_384).toBe(path === 'streamed');
    imageKey = await store(bytes);
    // Asked for twice, a small version is in the cache from then on.
    for (let read = 0; read < 2; read++) expect((await get(imageKey)).statusCode).toBe(200);
  });

  it('GET: the exact bytes with their type, length, validators and protections', async () => {
    const got = await get(imageKey);
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(bytes)).toBe(true);
    expect(got.headers).toMatchObject({
      'content-type': contentType,
      'content-length': String(bytes.length),
      etag: `"${sha256(bytes)}"`,
      'last-modified': LAST_MODIFIED,
      'cache-control': 'public, no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'accept-ranges': 'bytes',
    });
  });

  it('HEAD: the headers of GET, without a body', async () => {
    const [got, head] = [await get(imageKey), await gateway.request({ method: 'HEAD', url: `/${imageKey}` })];
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    expect({ ...head.headers, date: undefined, 'x-request-id': undefined }).toEqual({ ...got.headers, date: undefined, 'x-request-id': undefined });
  });

  it('304 for a matching If-None-Match (exact, weak, listed or *) or, without it, If-Modified-Since', async () => {
    const etag = `"${sha256(bytes)}"`;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const notModified = await get(imageKey, { 'if-none-match': ifNoneMatch });
      expect([ifNoneMatch, notModified.statusCode]).toEqual([ifNoneMatch, 304]);
      expect(notModified.rawPayload.length).toBe(0);
      expect(notModified.headers).toMatchObject({ etag, 'last-modified': LAST_MODIFIED, 'cache-control': 'public, no-cache' });
    }
    expect((await get(imageKey, { 'if-none-match': '"something-else"' })).rawPayload.equals(bytes)).toBe(true);
    expect((await get(imageKey, { 'if-modified-since': LAST_MODIFIED })).statusCode).toBe(304);
    expect((await get(imageKey, { 'if-modified-since': new Date(TEST_START_MS - 1000).toUTCString() })).statusCode).toBe(200);
    // If-None-Match decides when both come.
    expect((await get(imageKey, { 'if-none-match': '"something-else"', 'if-modified-since': LAST_MODIFIED })).statusCode).toBe(200);
  });

  it('206 for one satisfiable range: first-last, first- and -suffix', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=10-', 10, bytes.length - 1],
      ['bytes=-50', bytes.length - 50, bytes.length - 1],
      [`bytes=5-${bytes.length + 1000}`, 5, bytes.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const part = await get(imageKey, { range });
      expect([range, part.statusCode]).toEqual([range, 206]);
      expect(part.headers['content-range']).toBe(`bytes ${start}-${end}/${bytes.length}`);
      expect(part.headers['content-length']).toBe(String(end - start + 1));
      expect(part.rawPayload.equals(bytes.subarray(start, end + 1))).toBe(true);
    }
  });

  it('416 for a range wholly outside; the whole image for ranges it does not serve', async () => {
    const beyond = await get(imageKey, { range: `bytes=${bytes.length}-` });
    expectError(beyond, 416, 'RANGE_NOT_SATISFIABLE');
    expect(beyond.headers['content-range']).toBe(`bytes */${bytes.length}`);
    const ignored: Record<string, string>[] = [{ range: 'bytes=0-9', 'if-range': '"stale"' }, { range: 'bytes=0-9,20-29' }, { range: 'lines=1-2' }, { range: 'bytes=9-0' }];
    for (const headers of ignored) {
      const whole = await get(imageKey, headers);
      expect([headers, whole.statusCode]).toEqual([headers, 200]);
      expect(whole.rawPayload.equals(bytes)).toBe(true);
    }
  });
});

it('reads a small version from the object store once it is cached', async () => {
  const bytes = await fixtures.baselineJpeg();
  const imageKey = await store(bytes);
  const readsBefore = gateway.objects.reads.length;
  for (let read = 0; read < 5; read++) expect((await get(imageKey)).rawPayload.equals(bytes)).toBe(true);
  // The first read streams; the second loads it into the cache; the rest are served from memory.
  expect(gateway.objects.reads.length - readsBefore).toBe(2);
});

it('counts version cache hits and misses, admissions and the bytes held, on the gateway metrics', async () => {
  // Its own gateway: the cache and the counters start from nothing.
  await gateway.close();
  gateway = await startTestGateway(ENV);
  const bytes = await fixtures.baselineJpeg();
  const imageKey = await store(bytes);
  const large = await store(await fixtures.rgbaPng(100, 80));
  for (let read = 0; read < 4; read++) expect((await get(imageKey)).statusCode).toBe(200);
  // Streamed versions too large to cache are no request to the cache.
  expect((await get(large)).statusCode).toBe(200);
  const metrics = await gateway.metrics();
  // Miss (streamed), miss (loaded into the cache), then two hits.
  expect(metrics).toContain('imagehost_version_cache_requests_total{result="miss"} 2\n');
  expect(metrics).toContain('imagehost_version_cache_requests_total{result="hit"} 2\n');
  expect(metrics).toContain('imagehost_version_cache_admissions_total 1\n');
  expect(metrics).toContain('imagehost_version_cache_evictions_total 0\n');
  expect(metrics).toContain(`imagehost_version_cache_bytes ${bytes.length}\n`);
});

describe('404 in JSON, never 5xx, for any key that is not a live image', () => {
  it('unknown, malformed, percent-encoded and absurdly long keys, on GET and HEAD', async () => {
    const imageKey = await store(await fixtures.rgbPng());
    for (const key of ['AAAAAAAAAAAAAAAA', 'short', 'has.a.dot.in.it!', 'x'.repeat(10_000), '%00', imageKey.slice(0, 15), `${imageKey}x`]) {
      const got = await get(key);
      expect([key.slice(0, 20), got.statusCode]).toEqual([key.slice(0, 20), 404]);
      expectError(got, 404, 'IMAGE_NOT_FOUND');
      const head = await gateway.request({ method: 'HEAD', url: `/${key}` });
      expect(head.statusCode).toBe(404);
      expect(head.rawPayload.length).toBe(0);
    }
  });

  it('a path that does not percent-decode, refused by the router before any route', async () => {
    for (const path of ['/%E2%82', '/%', '/%zz']) {
      expectError(await gateway.request({ method: 'GET', url: path }), 404, 'NOT_FOUND');
      expectError(await gateway.request({ method: 'DELETE', url: path }), 404, 'NOT_FOUND');
    }
  });

  it('a record whose bytes are gone (reaped under a read)', async () => {
    const imageKey = await store(await fixtures.rgbaPng(100, 80));
    gateway.objects.objects.clear();
    expectError(await get(imageKey), 404, 'IMAGE_NOT_FOUND');
  });

  it('a path that is no route', async () => {
    expectError(await gateway.request({ method: 'GET', url: '/a/b' }), 404, 'NOT_FOUND');
  });
});

describe('503 when a backend is unavailable, never a 404 that would say the image is gone', () => {
  it('the records', async () => {
    const imageKey = await store(await fixtures.rgbPng());
    gateway.images.down = true;
    expectError(await get(imageKey), 503, 'BACKEND_UNAVAILABLE');
    expectError(await get('AAAAAAAAAAAAAAAA'), 503, 'BACKEND_UNAVAILABLE');
    expect((await gateway.request({ method: 'HEAD', url: `/${imageKey}` })).statusCode).toBe(503);
  });

  it('the object store', async () => {
    const imageKey = await store(await fixtures.rgbaPng(100, 80));
    gateway.objects.down = true;
    expectError(await get(imageKey), 503, 'BACKEND_UNAVAILABLE');
  });
});
