import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { expectError, sharedTestGateway, type TestGateway } from './testing/test-gateway.js';

// What the app does around its routes: the front door, the one error shape for what no route
// serves, and a generic 500 for the unexpected.

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

it('answers what no route serves with a 404 in the one error shape', async () => {
  expectError(await gateway.request({ method: 'GET', url: '/images/AAAAAAAAAAAAAAAA' }), 404, 'NOT_FOUND');
  expectError(await gateway.request({ method: 'POST', url: '/AAAAAAAAAAAAAAAA' }), 404, 'NOT_FOUND');
  expect((await gateway.request({ method: 'HEAD', url: '/' })).statusCode).toBe(404);
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
