import { afterEach, describe, expect, it } from '@jest/globals';
import type { LightMyRequestResponse } from 'fastify';
import { fixtures, multipartBody } from '@imagehost/testing';
import { expectError, sharedTestGateway, type TestGateway } from '../testing/test-gateway.js';

// CORS in-process, over fakes: which origin may read and write, the headers a page can read,
// preflights, and refusals that a page can read. (A preflight with every backend down, and a
// real browser on another origin: test/cors.e2e.test.ts and test/upload-page.slow.test.ts.)

const PAGE = 'https://photos.example';
const OTHER = 'https://elsewhere.example';
let gateway: TestGateway;

afterEach(async () => {
  await gateway.close();
});

interface Keys {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
}

async function upload(origin: string | undefined): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = origin === undefined ? {} : { origin };
  return gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]), headers);
}

function preflight(path: string, method: string, origin: string, requestHeaders?: string): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { origin, 'access-control-request-method': method };
  if (requestHeaders !== undefined) headers['access-control-request-headers'] = requestHeaders;
  return gateway.request({ method: 'OPTIONS', url: path, headers });
}

const exposed = (response: LightMyRequestResponse) => String(response.headers['access-control-expose-headers']).split(', ');

describe('CORS_ORIGINS unset (*): every origin may read and write', () => {
  it('GET and HEAD of an image: Allow-Origin *, ETag and Content-Length readable, no credentials, no Vary on Origin', async () => {
    gateway = await sharedTestGateway();
    const stored = (await upload(PAGE)).json<Keys>();
    for (const method of ['GET', 'HEAD'] as const) {
      const read = await gateway.request({ method, url: `/${stored.image_key}`, headers: { origin: OTHER } });
      expect(read.statusCode).toBe(200);
      expect(read.headers['access-control-allow-origin']).toBe('*');
      expect(read.headers['access-control-allow-credentials']).toBeUndefined();
      expect(exposed(read)).toEqual(expect.arrayContaining(['ETag', 'Content-Length', 'Content-Range', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy']));
      expect(String(read.headers.vary ?? '')).not.toMatch(/origin/i);
    }
  });

  it('POST from any page: 201 readable there, with Location exposed', async () => {
    gateway = await sharedTestGateway();
    const posted = await upload(OTHER);
    expect(posted.statusCode).toBe(201);
    expect(posted.headers['access-control-allow-origin']).toBe('*');
    expect(exposed(posted)).toEqual(expect.arrayContaining(['Location', 'X-Request-Id', 'Idempotent-Replayed']));
  });

  it('a preflight for PATCH with the key header: 204, every method and the API headers allowed, cached, nothing touched', async () => {
    gateway = await sharedTestGateway();
    gateway.images.down = true;
    const answer = await preflight('/AAAAAAAAAAAAAAAA', 'PATCH', OTHER, 'x-update-key, idempotency-key');
    expect(answer.statusCode).toBe(204);
    expect(answer.body).toBe('');
    expect(answer.headers['access-control-allow-origin']).toBe('*');
    expect(String(answer.headers['access-control-allow-methods']).split(', ')).toEqual(['GET', 'HEAD', 'POST', 'PATCH', 'DELETE']);
    expect(String(answer.headers['access-control-allow-headers']).split(', ')).toEqual(
      expect.arrayContaining(['Content-Type', 'X-Update-Key', 'X-Delete-Key', 'Idempotency-Key', 'If-None-Match', 'Range']),
    );
    expect(answer.headers['access-control-max-age']).toBe('600');
    expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('an OPTIONS without Origin gets the same 204, not a plain-text error', async () => {
    gateway = await sharedTestGateway();
    const answer = await gateway.request({ method: 'OPTIONS', url: '/' });
    expect([answer.statusCode, answer.headers['access-control-allow-origin']]).toEqual([204, '*']);
  });

  it('refusals carry the headers, so a page can read the JSON error: 404, 413, 415, 429, 503', async () => {
    gateway = await sharedTestGateway({ MAX_UPLOAD_BYTES: '100', UPLOAD_RATE_LIMIT: '2' });
    const headers = { origin: OTHER };
    const refusals: [LightMyRequestResponse, number, string][] = [
      [await gateway.request({ method: 'GET', url: '/AAAAAAAAAAAAAAAA', headers }), 404, 'IMAGE_NOT_FOUND'],
      [await upload(OTHER), 413, 'IMAGE_TOO_LARGE'],
      [await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.gif', bytes: await fixtures.gif() }]), headers), 415, 'UNSUPPORTED_EXTENSION'],
    ];
    refusals.push([await upload(OTHER), 429, 'RATE_LIMITED']);
    gateway.images.down = true;
    refusals.push([await gateway.request({ method: 'GET', url: '/AAAAAAAAAAAAAAAA', headers }), 503, 'BACKEND_UNAVAILABLE']);
    for (const [response, status, code] of refusals) {
      expectError(response, status, code);
      expect([status, response.headers['access-control-allow-origin']]).toEqual([status, '*']);
    }
    const limited = refusals[3]?.[0];
    expect(limited?.headers['retry-after']).toMatch(/^\d+$/);
    expect(exposed(limited as LightMyRequestResponse)).toEqual(expect.arrayContaining(['Retry-After', 'RateLimit-Remaining']));
  });

  it('a preflight is not counted against the upload rate limit', async () => {
    gateway = await sharedTestGateway({ UPLOAD_RATE_LIMIT: '1' });
    for (let i = 0; i < 5; i++) expect((await preflight('/', 'POST', OTHER)).statusCode).toBe(204);
    const posted = await upload(OTHER);
    expect([posted.statusCode, posted.headers['ratelimit-remaining']]).toEqual([201, '0']);
  });
});

describe('CORS_ORIGINS set: every origin reads, only those listed (and the gateway’s own pages) write', () => {
  const ENV = { CORS_ORIGINS: `${PAGE}, https://admin.example`, PUBLIC_BASE_URL: 'https://img.example' };

  it('a listed page writes: its origin echoed back, with Vary: Origin', async () => {
    gateway = await sharedTestGateway(ENV);
    const posted = await upload(PAGE);
    expect(posted.statusCode).toBe(201);
    expect(posted.headers['access-control-allow-origin']).toBe(PAGE);
    expect(String(posted.headers.vary)).toMatch(/\bOrigin\b/);
    const answer = await preflight('/AAAAAAAAAAAAAAAA', 'DELETE', PAGE, 'content-type');
    expect([answer.statusCode, answer.headers['access-control-allow-origin']]).toEqual([204, PAGE]);
    expect(answer.headers['access-control-allow-methods']).toBe('GET, HEAD, POST, PATCH, DELETE');
  });

  it('another page still reads any image', async () => {
    gateway = await sharedTestGateway(ENV);
    const stored = (await upload(PAGE)).json<Keys>();
    const read = await gateway.request({ method: 'GET', url: `/${stored.image_key}`, headers: { origin: OTHER } });
    expect([read.statusCode, read.headers['access-control-allow-origin']]).toEqual([200, '*']);
    const answer = await preflight(`/${stored.image_key}`, 'GET', OTHER, 'if-none-match');
    expect([answer.statusCode, answer.headers['access-control-allow-origin'], answer.headers['access-control-allow-methods']]).toEqual([204, '*', 'GET, HEAD']);
  });

  it('another page may not write: its preflight allows nothing, and a write it sends anyway is refused 403 before anything is stored', async () => {
    gateway = await sharedTestGateway(ENV);
    const answer = await preflight('/AAAAAAAAAAAAAAAA', 'PATCH', OTHER, 'x-update-key');
    expect(answer.statusCode).toBe(204);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.headers['access-control-allow-methods']).toBe('GET, HEAD');

    const posted = await upload(OTHER);
    expectError(posted, 403, 'ORIGIN_NOT_ALLOWED');
    expect(posted.headers['access-control-allow-origin']).toBeUndefined();
    expect(gateway.objects.objects.size).toBe(0);
    expect(gateway.images.records.size).toBe(0);

    const stored = (await upload(PAGE)).json<Keys>();
    const deleted = await gateway.request({
      method: 'DELETE',
      url: `/${stored.image_key}`,
      headers: { origin: OTHER, 'content-type': 'application/json' },
      payload: JSON.stringify({ delete_key: stored.delete_key }),
    });
    expectError(deleted, 403, 'ORIGIN_NOT_ALLOWED');
    expect((await gateway.request({ method: 'GET', url: `/${stored.image_key}` })).statusCode).toBe(200);
  });

  it('a write refused for its origin is not counted as a refused key', async () => {
    gateway = await sharedTestGateway({ ...ENV, KEY_FAILURE_RATE_LIMIT: '1' });
    const stored = (await upload(PAGE)).json<Keys>();
    const deleteWith = (headers: Record<string, string>) =>
      gateway.request({ method: 'DELETE', url: `/${stored.image_key}`, headers: { 'x-delete-key': stored.delete_key, ...headers } });
    for (let i = 0; i < 3; i++) expectError(await deleteWith({ origin: OTHER }), 403, 'ORIGIN_NOT_ALLOWED');
    expect((await deleteWith({ origin: PAGE })).statusCode).toBe(200);
  });

  it('clients that send no Origin (curl, servers) and the gateway’s own upload page write as before', async () => {
    gateway = await sharedTestGateway(ENV);
    expect((await upload(undefined)).statusCode).toBe(201);
    expect((await upload('https://img.example')).statusCode).toBe(201);
  });
});
