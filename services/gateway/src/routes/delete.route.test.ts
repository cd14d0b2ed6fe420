import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { fixtures, multipartBody } from '@imagehost/testing';
import { TEST_START_MS, expectError, sharedTestGateway, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// DELETE /{image_key} in-process, over fakes: the key as body or header, 404 on every method
// afterwards, the purge handed to the reaper, and refusals that change nothing.

let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway();
});

afterEach(async () => {
  await gateway.close();
});

interface Keys {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
}

async function store(bytes: Buffer): Promise<Keys> {
  const posted = await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.png', bytes }]));
  expect(posted.statusCode).toBe(201);
  return posted.json<Keys>();
}

function deleteWithBody(imageKey: string, body: string, contentType = 'application/json') {
  return gateway.request({ method: 'DELETE', url: `/${imageKey}`, payload: body, headers: { 'content-type': contentType } });
}

function deleteWithHeader(imageKey: string, deleteKey: string) {
  return gateway.request({ method: 'DELETE', url: `/${imageKey}`, headers: { 'x-delete-key': deleteKey } });
}

describe('200: deleted for good', () => {
  it.each(['body', 'header'] as const)('with the key in the %s: 404 on every method from then on, the purge queued', async (via) => {
    const bytes = await fixtures.rgbPng();
    const keys = await store(bytes);
    gateway.time.now = TEST_START_MS + 5_000;
    const deleted = via === 'body' ? await deleteWithBody(keys.image_key, JSON.stringify({ delete_key: keys.delete_key })) : await deleteWithHeader(keys.image_key, keys.delete_key);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ image_key: keys.image_key });
    expect(deleted.headers['content-type']).toBe('application/json; charset=utf-8');

    expect(gateway.images.records.get(keys.image_key)?.deletedAt).toEqual(new Date(TEST_START_MS + 5_000));
    expect(gateway.purges.purged).toEqual([keys.image_key]);
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 404, 'IMAGE_NOT_FOUND');
    const head = await gateway.request({ method: 'HEAD', url: `/${keys.image_key}` });
    expect(head.statusCode).toBe(404);
    expect(head.rawPayload.length).toBe(0);
    const patched = await gateway.sendForm('PATCH', `/${keys.image_key}`, multipartBody([{ name: 'image', filename: 'b.png', bytes }]), {
      'x-update-key': keys.update_key,
    });
    expectError(patched, 404, 'IMAGE_NOT_FOUND');
    expectError(await deleteWithHeader(keys.image_key, keys.delete_key), 404, 'IMAGE_NOT_FOUND');
  });

  it.each([
    ['no body', undefined],
    ['an empty JSON body', ''],
    ['a JSON object without delete_key', '{}'],
    // Members other than delete_key are ignored, prototype-poisoning ones dropped.
    ['other members', '{"note": 1, "__proto__": {"delete_key": "x"}, "constructor": {"prototype": {}}}'],
  ] as const)('with the key in the header and %s', async (_what, body) => {
    const keys = await store(await fixtures.rgbPng());
    const headers = { 'x-delete-key': keys.delete_key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const deleted = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers, ...(body === undefined ? {} : { payload: body }) });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ image_key: keys.image_key });
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 404, 'IMAGE_NOT_FOUND');
  });

  it('the header wins over the body', async () => {
    const keys = await store(await fixtures.rgbPng());
    const deleted = await gateway.request({
      method: 'DELETE',
      url: `/${keys.image_key}`,
      headers: { 'x-delete-key': keys.delete_key, 'content-type': 'application/json' },
      payload: JSON.stringify({ delete_key: keys.update_key }),
    });
    expect(deleted.statusCode).toBe(200);
  });

  it('stands when the purge cannot be queued (the sweep finds the tombstone later)', async () => {
    const keys = await store(await fixtures.rgbPng());
    gateway.purges.down = true;
    expect((await deleteWithHeader(keys.image_key, keys.delete_key)).statusCode).toBe(200);
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 404, 'IMAGE_NOT_FOUND');
  });

  it('answers without waiting for a purge the queue never takes (Redis hung)', async () => {
    const keys = await store(await fixtures.rgbPng());
    gateway.purges.hung = true;
    try {
      expect((await deleteWithHeader(keys.image_key, keys.delete_key)).statusCode).toBe(200);
    } finally {
      gateway.purges.hung = false;
    }
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 404, 'IMAGE_NOT_FOUND');
  });
});

describe('refusals change nothing', () => {
  let bytes: Buffer;
  let keys: Keys;

  beforeEach(async () => {
    bytes = await fixtures.rgbPng();
    keys = await store(bytes);
  });

  afterEach(async () => {
    const got = await gateway.request({ method: 'GET', url: `/${keys.image_key}` });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(bytes)).toBe(true);
    expect(gateway.purges.purged).toEqual([]);
  });

  it('401: no key, neither in the body nor as header', async () => {
    expectError(await deleteWithBody(keys.image_key, '{}'), 401, 'KEY_MISSING');
    expectError(await deleteWithBody(keys.image_key, ''), 401, 'KEY_MISSING');
    expectError(await deleteWithBody(keys.image_key, '{"delete_key": ""}'), 401, 'KEY_MISSING');
    expectError(await gateway.request({ method: 'DELETE', url: `/${keys.image_key}` }), 401, 'KEY_MISSING');
  });

  it('403: a wrong or malformed key', async () => {
    expectError(await deleteWithBody(keys.image_key, JSON.stringify({ delete_key: keys.update_key })), 403, 'KEY_INVALID');
    expectError(await deleteWithHeader(keys.image_key, 'A'.repeat(43)), 403, 'KEY_INVALID');
    expectError(await deleteWithBody(keys.image_key, '{"delete_key": "x"}'), 403, 'KEY_INVALID');
  });

  it('400: a malformed body', async () => {
    // Not JSON, JSON that is not an object, a delete_key that is not a string (no coercion: 123
    // is not the key "123"); even with the right key in the header.
    const malformed = ['{not json', '[]', '"just a string"', '{"delete_key": 123}', '{"delete_key": {"$ne": ""}}', '{"delete_key": ["a"]}', 'null', ' '];
    for (const body of malformed) {
      for (const headers of [{}, { 'x-delete-key': keys.delete_key }] as Record<string, string>[]) {
        const refused = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, payload: body, headers: { 'content-type': 'application/json', ...headers } });
        expect([body, refused.statusCode]).toEqual([body, 400]);
        expectError(refused, 400, 'MALFORMED_BODY');
      }
    }
  });

  it('413 and 415: a body far larger than a key, or not JSON', async () => {
    expectError(await deleteWithBody(keys.image_key, JSON.stringify({ delete_key: 'x'.repeat(20_000) })), 413, 'IMAGE_TOO_LARGE');
    expectError(await deleteWithBody(keys.image_key, '<delete_key/>', 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await deleteWithBody(keys.image_key, 'delete_key=x', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await deleteWithBody(keys.image_key, 'delete_key=x', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('404: an unknown, malformed or absurdly long image key', async () => {
    for (const imageKey of ['AAAAAAAAAAAAAAAA', 'not-a-key', 'x'.repeat(10_000), '%00']) {
      expectError(await deleteWithHeader(imageKey, keys.delete_key), 404, 'IMAGE_NOT_FOUND');
    }
  });

  it('404 before 400: a key that names nothing is not found, whatever the body', async () => {
    for (const body of ['[]', '{"delete_key": 123}', 'null']) {
      expectError(await deleteWithBody('not-a-key', body), 404, 'IMAGE_NOT_FOUND');
    }
  });

  it('503: the records are unreachable', async () => {
    gateway.images.down = true;
    expectError(await deleteWithHeader(keys.image_key, keys.delete_key), 503, 'BACKEND_UNAVAILABLE');
    gateway.images.down = false;
  });
});

describe('429: refused keys per client', () => {
  it('after KEY_FAILURE_RATE_LIMIT refused keys, even the right key is refused; another client may delete', async () => {
    await gateway.close();
    gateway = await startTestGateway({ KEY_FAILURE_RATE_LIMIT: '3' });
    const keys = await store(await fixtures.onePixelPng());
    const client = '198.51.100.20';
    for (let attempt = 0; attempt < 3; attempt++) {
      const wrong = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': 'A'.repeat(43) }, remoteAddress: client });
      expectError(wrong, 403, 'KEY_INVALID');
    }
    const blocked = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key }, remoteAddress: client });
    expectError(blocked, 429, 'RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(gateway.images.records.get(keys.image_key)?.deletedAt).toBeNull();
    const elsewhere = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key }, remoteAddress: '198.51.100.21' });
    expect(elsewhere.statusCode).toBe(200);
  });
});
