import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { AppError } from '@imagehost/errors';
import { fixtures, multipartBody, type FormPart } from '@imagehost/testing';
import { TEST_START_MS, expectError, partialBody, sharedTestGateway, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// PATCH /{image_key} in-process, over fakes: key rotation, every way the key may come, and
// refusals that leave the old image and the old keys exactly as they were. The ingest worker's
// answers are scripted: what it decides about the bytes and the key's race is tested with it.

const ENV = { MAX_UPLOAD_BYTES: '200000', MAX_IMAGE_PIXELS: '1000000' };
let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway(ENV);
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

type KeyPlacement = 'header' | 'field-before' | 'field-after' | 'none';

function patch(imageKey: string, bytes: Buffer, updateKey: string, placement: KeyPlacement = 'header', filename = 'b.png') {
  const file: FormPart = { name: 'image', filename, bytes };
  const field: FormPart = { name: 'update_key', value: updateKey };
  const parts = placement === 'field-before' ? [field, file] : placement === 'field-after' ? [file, field] : [file];
  return gateway.sendForm('PATCH', `/${imageKey}`, multipartBody(parts), placement === 'header' ? { 'x-update-key': updateKey } : {});
}

async function expectServes(imageKey: string, bytes: Buffer): Promise<void> {
  const got = await gateway.request({ method: 'GET', url: `/${imageKey}` });
  expect(got.statusCode).toBe(200);
  expect(got.rawPayload.equals(bytes)).toBe(true);
}

describe('200: replaced, both keys rotated', () => {
  it.each(['header', 'field-before', 'field-after'] as const)('with the key as %s: GET shows the new bytes at once and the old keys are dead', async (placement) => {
    const original = await fixtures.baselineJpeg();
    const keys = await store(original);
    const replacement = await fixtures.rgbaPng(30, 20);
    gateway.time.now = TEST_START_MS + 60_000;

    gateway.ingest.answerNext({ outcome: 'stored', width: 30, height: 20 });
    const patched = await patch(keys.image_key, replacement, keys.update_key, placement);
    expect(patched.statusCode).toBe(200);
    const fresh = patched.json<Keys>();
    expect(fresh).toEqual({
      image_key: keys.image_key,
      delete_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      update_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      url: `http://localhost:80/${keys.image_key}`,
      content_type: 'image/png',
      width: 30,
      height: 20,
      bytes: replacement.length,
      metadata_bytes_removed: 0,
      expires_at: null,
    });
    expect(fresh.delete_key).not.toBe(keys.delete_key);
    expect(fresh.update_key).not.toBe(keys.update_key);

    const got = await gateway.request({ method: 'GET', url: `/${keys.image_key}` });
    expect(got.rawPayload.equals(replacement)).toBe(true);
    expect(got.headers['content-type']).toBe('image/png');
    expect(got.headers['last-modified']).toBe(new Date(TEST_START_MS + 60_000).toUTCString());

    expectError(await patch(keys.image_key, original, keys.update_key), 403, 'KEY_INVALID');
    expectError(await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key } }), 403, 'KEY_INVALID');
    await expectServes(keys.image_key, replacement);
    expect((await patch(keys.image_key, original, fresh.update_key)).statusCode).toBe(200);
    await expectServes(keys.image_key, original);
  });
});

describe('202: accepted while ingest is behind', () => {
  it('answers with new keys; the old image stays until the worker applies the replacement', async () => {
    const original = await fixtures.rgbPng();
    const keys = await store(original);
    gateway.ingest.answer = { outcome: 'pending' };
    const replacement = await fixtures.baselineJpeg();
    const accepted = await patch(keys.image_key, replacement, keys.update_key);
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json()).toMatchObject({ image_key: keys.image_key, status: 'processing', content_type: 'image/jpeg', bytes: replacement.length });
    await expectServes(keys.image_key, original);
    gateway.ingest.catchUp();
    await expectServes(keys.image_key, replacement);
  });
});

describe('refusals change nothing', () => {
  let original: Buffer;
  let keys: Keys;

  beforeEach(async () => {
    original = await fixtures.rgbPng();
    keys = await store(original);
  });

  afterEach(async () => {
    await expectServes(keys.image_key, original);
    expect(gateway.objects.objects.size).toBe(1);
    expect(gateway.ingest.queued).toEqual([]);
    // The old update key still works.
    expect((await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key)).statusCode).toBe(200);
  });

  it('401: no key, neither as header nor as field', async () => {
    expectError(await patch(keys.image_key, await fixtures.baselineJpeg(), '', 'none'), 401, 'KEY_MISSING');
    expectError(await patch(keys.image_key, await fixtures.baselineJpeg(), '', 'field-after'), 401, 'KEY_MISSING');
  });

  it('403: a wrong or malformed key, wherever it comes', async () => {
    const replacement = await fixtures.baselineJpeg();
    expectError(await patch(keys.image_key, replacement, keys.delete_key, 'header'), 403, 'KEY_INVALID');
    expectError(await patch(keys.image_key, replacement, 'A'.repeat(43), 'field-after'), 403, 'KEY_INVALID');
    expectError(await patch(keys.image_key, replacement, 'short', 'field-before'), 403, 'KEY_INVALID');
  });

  it('403 and 413 decided before the body is read come with Connection: close, after the rest of the body', async () => {
    const form = multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.noisePng(100, 100) }]);
    const { stream, taken, finish } = partialBody(form.body.subarray(0, 100));
    let answered = false;
    const pending = gateway
      .request({ method: 'PATCH', url: `/${keys.image_key}`, payload: stream, headers: { 'content-type': form.contentType, 'x-update-key': keys.delete_key } })
      .then((response) => {
        answered = true;
        return response;
      });
    await taken();
    expect(answered).toBe(false);
    finish(form.body.subarray(100));
    const refused = await pending;
    expectError(refused, 403, 'KEY_INVALID');
    expect(refused.headers.connection).toBe('close');

    const oversized = await patch(keys.image_key, Buffer.alloc(300_000, 0x89), keys.update_key);
    expectError(oversized, 413, 'IMAGE_TOO_LARGE');
    expect(oversized.headers.connection).toBe('close');
  });

  it('404: an unknown, malformed or absurdly long image key', async () => {
    const replacement = await fixtures.baselineJpeg();
    for (const imageKey of ['AAAAAAAAAAAAAAAA', 'not-a-key', 'x'.repeat(10_000)]) {
      expectError(await patch(imageKey, replacement, keys.update_key), 404, 'IMAGE_NOT_FOUND');
      expectError(await patch(imageKey, replacement, keys.update_key, 'field-after'), 404, 'IMAGE_NOT_FOUND');
    }
  });

  it.each(['header', 'field-after'] as const)('413 and 415 like an upload (key as %s), the old image and keys kept', async (placement) => {
    const refusals: [Buffer, string, number, string][] = [
      [await fixtures.gif(), 'x.png', 415, 'UNSUPPORTED_IMAGE_TYPE'],
      [await fixtures.rgbPng(), 'x.gif', 415, 'UNSUPPORTED_EXTENSION'],
      [await fixtures.noisePng(400, 300), 'x.png', 413, 'IMAGE_TOO_LARGE'],
    ];
    for (const [bytes, filename, status, code] of refusals) {
      const refused = await patch(keys.image_key, bytes, keys.update_key, placement, filename);
      expect([filename, refused.statusCode]).toEqual([filename, status]);
      expectError(refused, status, code);
    }
  });

  it('503: the records are unreachable', async () => {
    gateway.images.down = true;
    expectError(await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key), 503, 'BACKEND_UNAVAILABLE');
    gateway.images.down = false;
  });
});

describe('the ingest worker’s refusals of a replacement, passed on', () => {
  it.each([
    ['does not decode', new AppError('IMAGE_UNDECODABLE', 'the image does not decode'), 422],
    ['found the update key used by a concurrent replacement', new AppError('CONFLICT', 'the update key was used by a concurrent replacement'), 409],
    ['found the image deleted meanwhile', new AppError('IMAGE_NOT_FOUND', 'the image was deleted'), 404],
  ] as const)('the worker %s: its status and code, the old image and keys kept', async (_what, error, status) => {
    const original = await fixtures.rgbPng();
    const keys = await store(original);
    const before = gateway.images.records.get(keys.image_key);
    gateway.ingest.answerNext({ outcome: 'refused', error });
    expectError(await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key), status, error.code);
    expect(gateway.images.records.get(keys.image_key)).toEqual(before);
    await expectServes(keys.image_key, original);
    expect((await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key)).statusCode).toBe(200);
  });
});

describe('429: refused keys per client', () => {
  it('after KEY_FAILURE_RATE_LIMIT refused keys, even the right key is refused, before the form is read', async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, KEY_FAILURE_RATE_LIMIT: '2' });
    const original = await fixtures.rgbPng();
    const keys = await store(original);
    const replacement = await fixtures.baselineJpeg();
    expectError(await patch(keys.image_key, replacement, keys.delete_key), 403, 'KEY_INVALID');
    expectError(await patch(keys.image_key, replacement, '', 'none'), 401, 'KEY_MISSING');
    const limited = await patch(keys.image_key, replacement, keys.update_key);
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-policy': '2;w=600' });
    await expectServes(keys.image_key, original);
  });
});
