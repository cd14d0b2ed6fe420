import { afterEach, describe, expect, it } from '@jest/globals';
import { fixtures, multipartBody, type FormPart } from '@imagehost/testing';
import { TEST_START_MS, expectError, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// expires_in on POST and PATCH in-process, over fakes, with the gateway's clock moved by the
// test: where the lifetime may come from, the operator's cap and default, expires_at in the
// answers and the ingest job, and 404 on every method from the expiry on.

let gateway: TestGateway;

afterEach(async () => {
  await gateway.close();
});

interface Answer {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
  readonly expires_at: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

type Placement = 'field-before' | 'field-after';

function post(bytes: Buffer, expiresIn?: string, placement: Placement = 'field-after') {
  const file: FormPart = { name: 'image', filename: 'a.jpg', bytes };
  const field: FormPart[] = expiresIn === undefined ? [] : [{ name: 'expires_in', value: expiresIn }];
  const parts = placement === 'field-before' ? [...field, file] : [file, ...field];
  return gateway.sendForm('POST', '/', multipartBody(parts));
}

function patch(imageKey: string, bytes: Buffer, updateKey: string, expiresIn?: string) {
  const parts: FormPart[] = [{ name: 'image', filename: 'b.png', bytes }, ...(expiresIn === undefined ? [] : [{ name: 'expires_in', value: expiresIn }])];
  return gateway.sendForm('PATCH', `/${imageKey}`, multipartBody(parts), { 'x-update-key': updateKey });
}

function del(imageKey: string, deleteKey: string) {
  return gateway.request({ method: 'DELETE', url: `/${imageKey}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ delete_key: deleteKey }) });
}

async function stored(bytes: Buffer, expiresIn?: string, placement?: Placement): Promise<Answer> {
  const posted = await post(bytes, expiresIn, placement);
  expect(posted.statusCode).toBe(201);
  return posted.json<Answer>();
}

describe('expires_in on POST', () => {
  it.each(['field-before', 'field-after'] as const)('as %s: answers expires_at and writes it into the ingest record', async (placement) => {
    gateway = await startTestGateway();
    const answer = await stored(await fixtures.baselineJpeg(), '3600', placement);
    expect(answer.expires_at).toBe(iso(TEST_START_MS + 3_600_000));
    expect(gateway.images.records.get(answer.image_key)?.expiresAt).toEqual(new Date(TEST_START_MS + 3_600_000));
  });

  it('keeps an image until deleted when neither the client nor the operator set a lifetime', async () => {
    gateway = await startTestGateway();
    const answer = await stored(await fixtures.baselineJpeg());
    expect(answer.expires_at).toBeNull();
    gateway.time.now += 50 * 365 * 24 * 3_600_000;
    expect((await gateway.request({ method: 'GET', url: `/${answer.image_key}` })).statusCode).toBe(200);
  });

  it('gives DEFAULT_IMAGE_LIFETIME when absent, else MAX_IMAGE_LIFETIME when only that is set', async () => {
    gateway = await startTestGateway({ DEFAULT_IMAGE_LIFETIME: '600', MAX_IMAGE_LIFETIME: '7200' });
    expect((await stored(await fixtures.baselineJpeg())).expires_at).toBe(iso(TEST_START_MS + 600_000));
    expect((await stored(await fixtures.baselineJpeg(), '7200')).expires_at).toBe(iso(TEST_START_MS + 7_200_000));
    await gateway.close();
    gateway = await startTestGateway({ MAX_IMAGE_LIFETIME: '7200' });
    expect((await stored(await fixtures.baselineJpeg())).expires_at).toBe(iso(TEST_START_MS + 7_200_000));
  });

  it('without a cap, expires_in=0 means never (and overrides the default)', async () => {
    gateway = await startTestGateway({ DEFAULT_IMAGE_LIFETIME: '600' });
    expect((await stored(await fixtures.baselineJpeg(), '0')).expires_at).toBeNull();
  });

  it.each([
    ['over the cap', { MAX_IMAGE_LIFETIME: '3600' }, '3601', 'field-after', 'EXPIRES_IN_TOO_LONG'],
    ['never under a cap', { MAX_IMAGE_LIFETIME: '3600' }, '0', 'field-before', 'EXPIRES_IN_TOO_LONG'],
    ['beyond a century without a cap', {}, '9999999999', 'field-before', 'EXPIRES_IN_TOO_LONG'],
    ['not a number', {}, 'soon', 'field-after', 'INVALID_EXPIRES_IN'],
    ['negative', {}, '-5', 'field-before', 'INVALID_EXPIRES_IN'],
    ['a fraction', {}, '1.5', 'field-before', 'INVALID_EXPIRES_IN'],
  ] as const)('refuses a lifetime %s with 400, storing and queueing nothing', async (_what, env, value, placement, code) => {
    gateway = await startTestGateway(env);
    const refused = await post(await fixtures.baselineJpeg(), value, placement);
    expectError(refused, 400, code);
    expect([gateway.objects.objects.size, gateway.ingest.queued.length, gateway.images.records.size]).toEqual([0, 0, 0]);
    expect(await gateway.uploadMemory()).toBe(0);
  });

  it('answers expires_at with a 202 too, and the image expires once ingested late', async () => {
    gateway = await startTestGateway();
    gateway.ingest.answer = { outcome: 'pending' };
    const posted = await post(await fixtures.baselineJpeg(), '60');
    expect(posted.statusCode).toBe(202);
    expect(posted.json<Answer>().expires_at).toBe(iso(TEST_START_MS + 60_000));
    gateway.ingest.catchUp();
    gateway.time.now = TEST_START_MS + 60_000;
    expectError(await gateway.request({ method: 'GET', url: `/${posted.json<Answer>().image_key}` }), 404, 'IMAGE_NOT_FOUND');
  });
});

describe('past expires_at', () => {
  it('serves until the last millisecond, then GET, HEAD, PATCH and DELETE are 404 — the cached bytes included', async () => {
    gateway = await startTestGateway();
    const bytes = await fixtures.baselineJpeg();
    const answer = await stored(bytes, '30');
    const expiresAt = TEST_START_MS + 30_000;
    gateway.time.now = expiresAt - 1;
    // Asked for three times, this small version is in the version cache.
    for (let read = 0; read < 3; read++) {
      const got = await gateway.request({ method: 'GET', url: `/${answer.image_key}` });
      expect(got.statusCode).toBe(200);
      expect(got.rawPayload.equals(bytes)).toBe(true);
      // Every cache must ask again before using its copy, so none serves it past the expiry.
      expect(got.headers['cache-control']).toBe('public, no-cache');
    }
    const readsBefore = gateway.objects.reads.length;

    gateway.time.now = expiresAt;
    expectError(await gateway.request({ method: 'GET', url: `/${answer.image_key}` }), 404, 'IMAGE_NOT_FOUND');
    expect((await gateway.request({ method: 'HEAD', url: `/${answer.image_key}` })).statusCode).toBe(404);
    expectError(await patch(answer.image_key, await fixtures.rgbPng(), answer.update_key), 404, 'IMAGE_NOT_FOUND');
    expectError(await del(answer.image_key, answer.delete_key), 404, 'IMAGE_NOT_FOUND');
    expect(gateway.objects.reads.length).toBe(readsBefore);
    // Nothing changed: the record waits for the reaper, and the refused replacement left nothing.
    expect(gateway.images.records.get(answer.image_key)).toMatchObject({ deletedAt: null, expiresAt: new Date(expiresAt) });
    expect(gateway.purges.purged).toEqual([]);
    expect(gateway.objects.objects.size).toBe(1);
  });
});

describe('expires_in on PATCH', () => {
  it('keeps the expiry when absent, sets a new one from now when given, and 0 clears it without a cap', async () => {
    gateway = await startTestGateway({ DEFAULT_IMAGE_LIFETIME: '600' });
    const first = await stored(await fixtures.baselineJpeg(), '120');

    gateway.time.now = TEST_START_MS + 10_000;
    const kept = await patch(first.image_key, await fixtures.rgbPng(), first.update_key);
    expect(kept.statusCode).toBe(200);
    expect(kept.json<Answer>().expires_at).toBe(iso(TEST_START_MS + 120_000));

    const longer = await patch(first.image_key, await fixtures.rgbPng(), kept.json<Answer>().update_key, '3600');
    expect(longer.json<Answer>().expires_at).toBe(iso(TEST_START_MS + 10_000 + 3_600_000));
    expect(gateway.images.records.get(first.image_key)?.expiresAt).toEqual(new Date(TEST_START_MS + 10_000 + 3_600_000));

    const never = await patch(first.image_key, await fixtures.rgbPng(), longer.json<Answer>().update_key, '0');
    expect(never.json<Answer>().expires_at).toBeNull();
    gateway.time.now += 10 * 365 * 24 * 3_600_000;
    expect((await gateway.request({ method: 'GET', url: `/${first.image_key}` })).statusCode).toBe(200);
  });

  it('refuses a lifetime over the cap with 400 and leaves the image, its keys and its expiry as they were', async () => {
    gateway = await startTestGateway({ MAX_IMAGE_LIFETIME: '3600' });
    const original = await fixtures.baselineJpeg();
    const first = await stored(original, '60');
    expectError(await patch(first.image_key, await fixtures.rgbPng(), first.update_key, '3601'), 400, 'EXPIRES_IN_TOO_LONG');
    const got = await gateway.request({ method: 'GET', url: `/${first.image_key}` });
    expect(got.rawPayload.equals(original)).toBe(true);
    expect(gateway.images.records.get(first.image_key)?.expiresAt).toEqual(new Date(TEST_START_MS + 60_000));
    expect((await patch(first.image_key, await fixtures.rgbPng(), first.update_key)).statusCode).toBe(200);
  });
});
