import { afterEach, describe, expect, it } from '@jest/globals';
import { generateReportId, hashReporter } from '@imagehost/keys';
import { fixtures, metricSample, multipartBody } from '@imagehost/testing';
import { TEST_START_MS, expectError, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// POST /{image_key}/report in-process, over fakes: what a report hands to the repository,
// every refusal, the per-client rate limit, and hiding after REPORT_HIDE_THRESHOLD reporters.

let gateway: TestGateway;

afterEach(async () => {
  await gateway.close();
});

interface Keys {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
}

async function store(): Promise<Keys> {
  const posted = await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]));
  expect(posted.statusCode).toBe(201);
  return posted.json<Keys>();
}

function report(imageKey: string, body: unknown, remoteAddress = '192.0.2.10') {
  return gateway.request({
    method: 'POST',
    url: `/${imageKey}/report`,
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    remoteAddress,
  });
}

describe('202: received', () => {
  it('stores an open report: the reason, the trimmed text, the hashed client address and the time', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    const answered = await report(image_key, { reason: 'copyright', details: '  my photo, taken 2025  ', contact: 'owner@example.org' });
    expect(answered.statusCode).toBe(202);
    expect(answered.json()).toEqual({ image_key, status: 'received' });
    expect(gateway.reports.handedIn).toEqual([
      {
        _id: expect.stringMatching(new RegExp(`^${generateReportId(TEST_START_MS).slice(0, 9)}`)),
        imageKey: image_key,
        reporter: hashReporter('192.0.2.10'),
        reason: 'copyright',
        details: 'my photo, taken 2025',
        contact: 'owner@example.org',
        createdAt: new Date(TEST_START_MS),
      },
    ]);
    expect(metricSample(await gateway.metrics(), 'imagehost_reports_received_total', { reason: 'copyright' })).toBe(1);
  });

  it('answers a repeat alike, counting it nowhere', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    expect((await report(image_key, { reason: 'spam' })).statusCode).toBe(202);
    gateway.reports.nextOutcome = { opened: false };
    const repeat = await report(image_key, { reason: 'spam' });
    expect([repeat.statusCode, repeat.json()]).toEqual([202, { image_key, status: 'received' }]);
    expect(metricSample(await gateway.metrics(), 'imagehost_reports_received_total', { reason: 'spam' })).toBe(1);
  });
});

describe('refusals', () => {
  it.each([
    ['an array', [{ reason: 'abuse' }]],
    ['a string', '"abuse"'],
    ['no reason', { details: 'bad' }],
    ['a reason not in the list', { reason: 'ugly' }],
    ['a reason that is not text', { reason: 1 }],
    ['details too long', { reason: 'abuse', details: 'x'.repeat(2001) }],
    ['a contact that is not text', { reason: 'abuse', contact: { email: 'a@b.c' } }],
  ])('refuses %s with 400 INVALID_REPORT, storing nothing', async (_what, body) => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    expectError(await report(image_key, body), 400, 'INVALID_REPORT');
    expect(gateway.reports.handedIn).toEqual([]);
  });

  it('ignores a member other than reason, details and contact', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    expect((await report(image_key, { reason: 'abuse', $where: '1' })).statusCode).toBe(202);
    expect(gateway.reports.handedIn).toEqual([expect.not.objectContaining({ $where: expect.anything() })]);
  });

  it('refuses malformed JSON and plain text with 400, and a body of another type with 415', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    expectError(await report(image_key, '{"reason": '), 400, 'MALFORMED_BODY');
    const text = await gateway.request({ method: 'POST', url: `/${image_key}/report`, headers: { 'content-type': 'text/plain' }, payload: 'abuse' });
    expectError(text, 400, 'INVALID_REPORT');
    const xml = await gateway.request({ method: 'POST', url: `/${image_key}/report`, headers: { 'content-type': 'application/xml' }, payload: '<reason/>' });
    expectError(xml, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(gateway.reports.handedIn).toEqual([]);
  });

  it('answers 404 for an unknown, malformed, deleted or expired image', async () => {
    gateway = await startTestGateway();
    const deleted = await store();
    const removed = await gateway.request({ method: 'DELETE', url: `/${deleted.image_key}`, headers: { 'x-delete-key': deleted.delete_key } });
    expect(removed.statusCode).toBe(200);
    const expiring = await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }, { name: 'expires_in', value: '60' }]));
    gateway.time.now += 60_000;
    for (const imageKey of ['AAAAAAAAAAAAAAAA', 'not-a-key', deleted.image_key, expiring.json<Keys>().image_key]) {
      expectError(await report(imageKey, { reason: 'abuse' }), 404, 'IMAGE_NOT_FOUND');
    }
    expect(gateway.reports.handedIn).toEqual([]);
  });

  it('answers 503 while MongoDB is away', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    gateway.reports.down = true;
    expectError(await report(image_key, { reason: 'abuse' }), 503, 'BACKEND_UNAVAILABLE');
  });
});

it('limits reports per client (REPORT_RATE_LIMIT an hour), apart from other clients and from uploads', async () => {
  gateway = await startTestGateway({ REPORT_RATE_LIMIT: '2', UPLOAD_RATE_LIMIT: '100' });
  const { image_key } = await store();
  for (let n = 0; n < 2; n++) expect((await report(image_key, { reason: 'spam' })).statusCode).toBe(202);
  const limited = await report(image_key, { reason: 'spam' });
  expectError(limited, 429, 'RATE_LIMITED');
  expect(limited.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-policy': '2;w=3600', 'retry-after': expect.stringMatching(/^\d+$/) });
  expect(gateway.reports.handedIn).toHaveLength(2);
  expect((await report(image_key, { reason: 'spam' }, '192.0.2.11')).statusCode).toBe(202);
  expect((await store()).image_key).toEqual(expect.any(String));
});

describe('REPORT_HIDE_THRESHOLD', () => {
  it('hides the image on the report that reaches that many distinct open reporters: 404 for every method from then on', async () => {
    gateway = await startTestGateway({ REPORT_HIDE_THRESHOLD: '3' });
    const keys = await store();
    gateway.reports.openReporters = 2;
    expect((await report(keys.image_key, { reason: 'abuse' })).statusCode).toBe(202);
    expect((await gateway.request({ method: 'GET', url: `/${keys.image_key}` })).statusCode).toBe(200);

    // A repeat that stored nothing hides nothing, whatever the count says.
    gateway.reports.openReporters = 3;
    gateway.reports.nextOutcome = { opened: false };
    expect((await report(keys.image_key, { reason: 'abuse' }, '192.0.2.20')).statusCode).toBe(202);
    expect((await gateway.request({ method: 'GET', url: `/${keys.image_key}` })).statusCode).toBe(200);

    gateway.reports.nextOutcome = { opened: true };
    expect((await report(keys.image_key, { reason: 'abuse' }, '192.0.2.21')).statusCode).toBe(202);
    expect(gateway.images.records.get(keys.image_key)?.hiddenAt).toEqual(new Date(TEST_START_MS));
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 404, 'IMAGE_NOT_FOUND');
    expect((await gateway.request({ method: 'HEAD', url: `/${keys.image_key}` })).statusCode).toBe(404);
    const replaced = await gateway.sendForm('PATCH', `/${keys.image_key}`, multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.rgbPng() }]), {
      'x-update-key': keys.update_key,
    });
    expectError(replaced, 404, 'IMAGE_NOT_FOUND');
    expectError(await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key } }), 404, 'IMAGE_NOT_FOUND');
    expectError(await report(keys.image_key, { reason: 'abuse' }, '192.0.2.22'), 404, 'IMAGE_NOT_FOUND');
  });

  it('never hides when off (the default)', async () => {
    gateway = await startTestGateway();
    const { image_key } = await store();
    gateway.reports.openReporters = 1000;
    expect((await report(image_key, { reason: 'csam' })).statusCode).toBe(202);
    expect((await gateway.request({ method: 'GET', url: `/${image_key}` })).statusCode).toBe(200);
  });
});
