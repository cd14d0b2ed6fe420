import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { FaultProxy, TestStack, fixtures, multipartBody, request, testBackendSettings, type HttpResult } from '@imagehost/testing';

// CORS on the real processes, each backend behind a fault proxy: a preflight needs no backend
// (it is answered while all three hang), an outage's 503 is readable by a page, and a page of
// an origin outside CORS_ORIGINS reads images but stores nothing.

const ALLOWED = 'https://photos.example';
const OTHER = 'https://elsewhere.example';
/** Far below what any backend call waits before it gives up: an answer this fast touched none. */
const NO_BACKEND_MS = 3_000;

let stack: TestStack;
const proxies = {} as { redis: FaultProxy; mongo: FaultProxy; s3: FaultProxy };

const hostAndPort = (url: string) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) });

beforeAll(async () => {
  const settings = testBackendSettings();
  proxies.redis = await FaultProxy.start(hostAndPort(settings.redisUrl));
  proxies.mongo = await FaultProxy.start(hostAndPort(settings.mongoUrl));
  proxies.s3 = await FaultProxy.start(hostAndPort(settings.s3.endpoint));
  stack = await TestStack.start({
    env: {
      REDIS_URL: proxies.redis.proxiedUrl(settings.redisUrl),
      MONGO_URL: proxies.mongo.proxiedUrl(settings.mongoUrl),
      S3_ENDPOINT: proxies.s3.proxiedUrl(settings.s3.endpoint),
      S3_TIMEOUT_MS: '2000',
      CORS_ORIGINS: ALLOWED,
    },
  });
});

afterEach(async () => {
  for (const proxy of Object.values(proxies)) proxy.setMode('pass');
  for (const service of stack.processes) await service.waitUntilServing();
});

afterAll(async () => {
  await stack.stop();
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
}, 120_000);

function setAll(mode: 'refuse' | 'blackhole'): void {
  for (const proxy of Object.values(proxies)) proxy.setMode(mode);
}

function preflight(path: string, method: string, origin: string, headers = ''): Promise<HttpResult> {
  return request(stack.url(path), {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, ...(headers === '' ? {} : { 'access-control-request-headers': headers }) },
    signal: AbortSignal.timeout(NO_BACKEND_MS),
  });
}

async function upload(origin: string): Promise<HttpResult> {
  const form = multipartBody([{ name: 'image', filename: 'photo.jpg', bytes: await fixtures.baselineJpeg() }]);
  return request(stack.url('/'), { method: 'POST', body: form.body, headers: { 'content-type': form.contentType, origin } });
}

describe('CORS_ORIGINS names the pages that may write', () => {
  it('a listed page stores, replaces and deletes, reading every answer', async () => {
    const posted = await upload(ALLOWED);
    expect([posted.status, posted.headers.get('access-control-allow-origin')]).toEqual([201, ALLOWED]);
    expect(posted.headers.get('vary')).toMatch(/\bOrigin\b/);
    const keys = posted.json as { image_key: string; delete_key: string; update_key: string };
    const form = multipartBody([{ name: 'image', filename: 'new.png', bytes: await fixtures.rgbPng() }]);
    const replaced = await request(stack.url(`/${keys.image_key}`), {
      method: 'PATCH',
      body: form.body,
      headers: { 'content-type': form.contentType, 'x-update-key': keys.update_key, origin: ALLOWED },
    });
    expect([replaced.status, replaced.headers.get('access-control-allow-origin')]).toEqual([200, ALLOWED]);
    const deleted = await request(stack.url(`/${keys.image_key}`), {
      method: 'DELETE',
      headers: { 'x-delete-key': String(replaced.json?.delete_key), origin: ALLOWED },
    });
    expect([deleted.status, deleted.headers.get('access-control-allow-origin')]).toEqual([200, ALLOWED]);
  });

  it('another page reads any image, but its upload is refused before anything is stored, and its delete changes nothing', async () => {
    const stored = await upload(ALLOWED);
    const keys = stored.json as { image_key: string; delete_key: string };
    const objectsBefore = (await stack.objectKeys()).sort();
    const recordsBefore = await stack.recordCount();

    const read = await request(stack.url(`/${keys.image_key}`), { headers: { origin: OTHER } });
    expect([read.status, read.headers.get('access-control-allow-origin')]).toEqual([200, '*']);

    const refused = await upload(OTHER);
    expect([refused.status, refused.json?.code]).toEqual([403, 'ORIGIN_NOT_ALLOWED']);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const deleteRefused = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', headers: { 'x-delete-key': keys.delete_key, origin: OTHER } });
    expect([deleteRefused.status, deleteRefused.json?.code]).toEqual([403, 'ORIGIN_NOT_ALLOWED']);
    const denied = await preflight(`/${keys.image_key}`, 'DELETE', OTHER, 'content-type');
    expect([denied.status, denied.headers.get('access-control-allow-origin'), denied.headers.get('access-control-allow-methods')]).toEqual([204, null, 'GET, HEAD']);

    expect((await stack.objectKeys()).sort()).toEqual(objectsBefore);
    expect(await stack.recordCount()).toBe(recordsBefore);
    expect((await request(stack.url(`/${keys.image_key}`))).status).toBe(200);
  });
});

// Last: the outages below leave the services reconnecting for a while.
describe('no backend is needed', () => {
  it('preflights, the upload page and its files are answered while Redis, MongoDB and S3 all hang', async () => {
    setAll('blackhole');
    const cases: [string, string, string, string, string][] = [
      ['/', 'POST', ALLOWED, 'idempotency-key', ALLOWED],
      ['/AAAAAAAAAAAAAAAA', 'PATCH', ALLOWED, 'x-update-key', ALLOWED],
      ['/AAAAAAAAAAAAAAAA', 'DELETE', ALLOWED, 'content-type', ALLOWED],
      ['/AAAAAAAAAAAAAAAA', 'GET', OTHER, 'if-none-match, range', '*'],
    ];
    for (const [path, method, origin, headers, allowOrigin] of cases) {
      const answer = await preflight(path, method, origin, headers);
      expect([method, answer.status, answer.headers.get('access-control-allow-origin')]).toEqual([method, 204, allowOrigin]);
      expect(answer.headers.get('access-control-allow-methods')).toContain(method);
    }
    const page = await request(stack.url('/'), { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(NO_BACKEND_MS) });
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    const script = await request(stack.url('/assets/upload.js'), { signal: AbortSignal.timeout(NO_BACKEND_MS) });
    expect(script.status).toBe(200);
  });

  it('while the backends refuse, the 503 a read gets is readable by any page', async () => {
    setAll('refuse');
    const read = await request(stack.url('/AAAAAAAAAAAAAAAA'), { headers: { origin: OTHER } });
    expect([read.status, read.json?.code]).toEqual([503, 'BACKEND_UNAVAILABLE']);
    expect(read.headers.get('access-control-allow-origin')).toBe('*');
    expect(read.headers.get('access-control-expose-headers')).toContain('Retry-After');
  });
});
