import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestStack, fixtures, freePort, metricSample, request, uploadImage, type HttpResult } from '@imagehost/testing';

// Abuse reports against the real processes, two gateways on the same backends and the
// admin API of one of them: the per-client rate limit holds across replicas (Redis), one open
// report per client and image across replicas (MongoDB's unique index), the queue lists them
// oldest first, hiding after REPORT_HIDE_THRESHOLD distinct reporters holds on both gateways
// until an operator dismisses, and the reaper's gauges show the queue.
// Clients are told apart by X-Forwarded-For, which the gateways trust from 127.0.0.1.

const TOKEN = 'an-admin-token-of-more-than-32-characters';
let stack: TestStack;
let second: string;
let admin: string;

beforeAll(async () => {
  const adminPort = await freePort();
  stack = await TestStack.start({
    env: { REPORT_RATE_LIMIT: '3', REPORT_HIDE_THRESHOLD: '2', TRUST_PROXY: '127.0.0.1', ADMIN_TOKEN: TOKEN, ADMIN_PORT: String(adminPort) },
  });
  admin = `http://127.0.0.1:${adminPort}`;
  const port = await freePort();
  const gateway = await stack.startService('gateway', { PORT: String(port), ADMIN_PORT: String(await freePort()) });
  await gateway.waitUntilServing();
  second = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await stack.stop();
});

async function store(): Promise<string> {
  const posted = await uploadImage(stack.baseUrl, await fixtures.baselineJpeg());
  expect(posted.status).toBe(201);
  return (posted.json as { image_key: string }).image_key;
}

function report(gateway: string, imageKey: string, client: string, reason = 'abuse'): Promise<HttpResult> {
  return request(`${gateway}/${imageKey}/report`, {
    method: 'POST',
    body: JSON.stringify({ reason, details: `reported by ${client}` }),
    headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
  });
}

function adminCall(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpResult> {
  return request(`${admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

interface Listed {
  readonly reports: { id: string; image_key: string; reason: string; details: string; status: string }[];
  readonly next_after: string | null;
}

describe('abuse reports', () => {
  it('one open report per client and image, a rate limit per client shared by both gateways, the queue oldest first', async () => {
    const [first, other] = [await store(), await store()];
    expect((await report(stack.baseUrl, first, '198.51.100.1', 'spam')).status).toBe(202);
    // The same client again, on the other gateway: answered alike, stored once.
    const repeat = await report(second, first, '198.51.100.1', 'spam');
    expect([repeat.status, repeat.json]).toEqual([202, { image_key: first, status: 'received' }]);
    expect((await report(second, other, '198.51.100.1', 'copyright')).status).toBe(202);
    // Three reports counted for this client across both gateways: the fourth is refused.
    const limited = await report(stack.baseUrl, other, '198.51.100.1');
    expect([limited.status, limited.json?.code, limited.headers.get('ratelimit-policy')]).toEqual([429, 'RATE_LIMITED', '3;w=3600']);
    // Another client has its own budget.
    expect((await report(stack.baseUrl, other, '198.51.100.9', 'copyright')).status).toBe(202);

    const queue = await adminCall('GET', '/admin/reports?status=open&limit=2');
    expect(queue.status).toBe(200);
    const page = queue.json as unknown as Listed;
    expect(page.reports.map((r) => [r.image_key, r.reason, r.details])).toEqual([
      [first, 'spam', 'reported by 198.51.100.1'],
      [other, 'copyright', 'reported by 198.51.100.1'],
    ]);
    const rest = (await adminCall('GET', `/admin/reports?status=open&limit=2&after=${page.next_after ?? ''}`)).json as unknown as Listed;
    expect(rest.reports.map((r) => [r.image_key, r.details])).toEqual([[other, 'reported by 198.51.100.9']]);

    // The reaper's gauges show the queue (computed from MongoDB on each scrape).
    const metrics = await (await fetch(`${stack.service('reaper').opsUrl}/metrics`)).text();
    expect(metricSample(metrics, 'imagehost_reports_open')).toBe(3);
    expect(metricSample(metrics, 'imagehost_reports_oldest_open_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(metricSample(metrics, 'imagehost_reports_oldest_open_age_seconds')).toBeLessThan(120);

    // Dismissing resolves the image's open reports; the client may report it again.
    const dismissed = await adminCall('POST', `/admin/reports/${page.reports[0]?.id ?? ''}/resolve`, { action: 'dismiss', note: 'not spam' });
    expect([dismissed.status, dismissed.json?.reports_resolved]).toEqual([200, 1]);
    const open = (await adminCall('GET', '/admin/reports')).json as unknown as Listed;
    expect(open.reports.map((r) => r.image_key)).toEqual([other, other]);
    expect(((await adminCall('GET', '/admin/reports?status=dismissed')).json as unknown as Listed).reports.map((r) => r.image_key)).toEqual([first]);
  });

  it('hides an image on both gateways once two clients reported it, until an operator dismisses', async () => {
    const imageKey = await store();
    expect((await report(stack.baseUrl, imageKey, '203.0.113.1')).status).toBe(202);
    expect((await request(`${second}/${imageKey}`)).status).toBe(200);
    expect((await report(second, imageKey, '203.0.113.2')).status).toBe(202);
    for (const gateway of [stack.baseUrl, second]) {
      const got = await request(`${gateway}/${imageKey}`);
      expect([gateway, got.status, got.json?.code]).toEqual([gateway, 404, 'IMAGE_NOT_FOUND']);
    }
    const listed = (await adminCall('GET', '/admin/reports?limit=500')).json as unknown as Listed;
    const mine = listed.reports.filter((r) => r.image_key === imageKey);
    expect(mine).toHaveLength(2);
    expect((await adminCall('POST', `/admin/reports/${mine[1]?.id ?? ''}/resolve`, { action: 'dismiss' })).json).toMatchObject({ reports_resolved: 2, unhidden: true });
    for (const gateway of [stack.baseUrl, second]) expect((await request(`${gateway}/${imageKey}`)).status).toBe(200);
  });
});
