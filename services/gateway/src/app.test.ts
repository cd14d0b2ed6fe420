import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { HTTPMethods } from 'fastify';
import { expectError, sharedTestGateway, type TestGateway } from './testing/test-gateway.js';

// What the app does around its routes: the front door, the one error shape for what no route
// serves (404 for a path, 405 for a method), and a generic 500 for the unexpected.

let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway();
});

afterEach(async () => {
  await gateway.close();
});

it('GET / tells how to upload and where the OpenAPI document is', async () => {
  const index = await gateway.request({ method: 'GET', url: '/' });
  expect(index.statusCode).toBe(200);
  expect(index.json()).toEqual({ service: 'imagehost', upload: 'POST / (multipart/form-data, file part "image")', openapi: '/openapi.json' });
});

it('answers a path no route serves with a 404 in the one error shape', async () => {
  expectError(await gateway.request({ method: 'GET', url: '/images/AAAAAAAAAAAAAAAA' }), 404, 'NOT_FOUND');
  expectError(await gateway.request({ method: 'PUT', url: '/a/b' }), 404, 'NOT_FOUND');
});

describe('405 with Allow: a method no route of a served path takes', () => {
  const IMAGE_METHODS = 'GET, HEAD, PATCH, DELETE, OPTIONS';
  const cases: [HTTPMethods, string, string][] = [
    ['TRACE', '/', 'GET, POST, OPTIONS'],
    ['HEAD', '/', 'GET, POST, OPTIONS'],
    // The router would hand these to the image key's routes with an empty key.
    ['PATCH', '/', 'GET, POST, OPTIONS'],
    ['DELETE', '/', 'GET, POST, OPTIONS'],
    ['PUT', '/', 'GET, POST, OPTIONS'],
    ['QUERY', '/AAAAAAAAAAAAAAAA', IMAGE_METHODS],
    ['PUT', '/AAAAAAAAAAAAAAAA', IMAGE_METHODS],
    ['POST', '/AAAAAAAAAAAAAAAA', IMAGE_METHODS],
    ['TRACE', '/AAAAAAAAAAAAAAAA', IMAGE_METHODS],
    // Also a malformed key: the path is served, whatever the key names.
    ['PUT', '/not-a-key', IMAGE_METHODS],
    // A path without parameters wins over one with (as OpenAPI reads paths), though the router
    // would hand these to the image key's routes.
    ['PUT', '/openapi.json', 'GET, OPTIONS'],
    ['PATCH', '/openapi.json', 'GET, OPTIONS'],
    ['DELETE', '/openapi.json', 'GET, OPTIONS'],
    ['HEAD', '/openapi.json', 'GET, OPTIONS'],
    ['POST', '/assets/upload.js', 'GET, OPTIONS'],
  ];

  it.each(cases)('%s %s: Allow %s', async (method, url, allow) => {
    const refused = await gateway.request({ method, url, headers: { origin: 'https://pages.example' } });
    expect(refused.headers.allow).toBe(allow);
    // A refusal a page can read, like every other.
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    if (method === 'HEAD') expect(refused.statusCode).toBe(405);
    else expectError(refused, 405, 'METHOD_NOT_ALLOWED');
  });

  it('decides by the method before the body is read: a malformed body changes nothing', async () => {
    const refused = await gateway.request({ method: 'PUT', url: '/AAAAAAAAAAAAAAAA', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expectError(refused, 405, 'METHOD_NOT_ALLOWED');
    expect(refused.headers.allow).toBe(IMAGE_METHODS);
  });

  it('leaves CORS preflights to CORS: OPTIONS is 204 on every path', async () => {
    for (const url of ['/', '/AAAAAAAAAAAAAAAA', '/a/b']) {
      const preflight = await gateway.request({ method: 'OPTIONS', url, headers: { origin: 'https://pages.example', 'access-control-request-method': 'DELETE' } });
      expect([url, preflight.statusCode, preflight.headers['access-control-allow-methods']]).toEqual([url, 204, 'GET, HEAD, POST, PATCH, DELETE']);
    }
  });
});

it('turns an unexpected failure into a 500 that tells the client nothing of it', async () => {
  gateway.images.findLiveMany = () => Promise.reject(new Error('the driver broke: secret detail'));
  const failed = await gateway.request({ method: 'GET', url: '/AAAAAAAAAAAAAAAA' });
  expectError(failed, 500, 'INTERNAL');
  expect(failed.json()).toMatchObject({ message: 'internal error' });
});

it("answers every request with its X-Request-Id: the client's when it is a plain token, a fresh one otherwise", async () => {
  const given = await gateway.request({ method: 'GET', url: '/', headers: { 'x-request-id': 'lb-7f3a.42_x' } });
  expect(given.headers['x-request-id']).toBe('lb-7f3a.42_x');
  const refused = await gateway.request({ method: 'GET', url: '/images/AAAAAAAAAAAAAAAA', headers: { 'x-request-id': 'lb-7f3a.43' } });
  expect(refused.headers['x-request-id']).toBe('lb-7f3a.43');
  for (const unusable of ['a'.repeat(65), 'has space', 'line\u2028break', '']) {
    const fresh = await gateway.request({ method: 'GET', url: '/', headers: { 'x-request-id': unusable } });
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
});
