import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestStack, fixtures, freePort, metricSample, multipartBody, request, uploadImage, waitFor } from '@imagehost/testing';

// What an operator relies on: metrics that move, health and readiness, the queue dashboard
// behind its credential, rate limits shared by replicas, and a graceful SIGTERM.

async function scrape(opsUrl: string): Promise<string> {
  const response = await request(`${opsUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.body.toString('utf8');
}

describe('metrics, health and the queue dashboard', () => {
  let stack: TestStack;
  const credentials = 'operator:a-long-enough-secret';

  beforeAll(async () => {
    stack = await TestStack.start({ services: ['gateway', 'reaper'], env: { QUEUE_DASHBOARD_CREDENTIALS: credentials, INGEST_WAIT_MS: '200' } });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('reports health and readiness on the ops port of every service', async () => {
    for (const service of stack.processes) {
      expect((await request(`${service.opsUrl}/healthz`)).status).toBe(200);
      const ready = await request(`${service.opsUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.json).toEqual({ status: 'ready', checks: { redis: 'ok', mongodb: 'ok', s3: 'ok', startup: 'ok' } });
    }
  });

  it('moves the queue gauges, counts jobs and fills the HTTP histograms', async () => {
    const gateway = stack.service('gateway');
    const before = await scrape(gateway.opsUrl);
    expect(metricSample(before, 'imagehost_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(0);

    // No ingest worker yet: the upload waits in the queue (202), and the gauges show it.
    const jpeg = await fixtures.baselineJpeg();
    const posted = await uploadImage(stack.baseUrl, jpeg, 'a.jpg');
    expect(posted.status).toBe(202);
    // The gateway's own clock ages the job: scrape until it has waited a second.
    const backlog = await waitFor('the waiting job to be a second old', async () => {
      const text = await scrape(gateway.opsUrl);
      return metricSample(text, 'imagehost_queue_oldest_waiting_age_seconds', { queue: 'ingest' }) >= 1 ? text : undefined;
    }, 10_000, 100);
    expect(metricSample(backlog, 'imagehost_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(1);
    expect(metricSample(backlog, 'imagehost_queue_oldest_waiting_age_seconds', { queue: 'ingest' })).toBeGreaterThanOrEqual(1);
    expect(metricSample(backlog, 'imagehost_uploaded_bytes_total')).toBe(jpeg.length);
    expect(metricSample(backlog, 'imagehost_http_request_duration_seconds_count', { method: 'POST', route: '/', status_code: '202' })).toBe(1);

    const ingest = await stack.startService('ingest');
    const { image_key: imageKey } = posted.json as { image_key: string };
    await waitFor('the image to be ingested', async () => ((await request(stack.url(`/${imageKey}`))).status === 200 ? true : undefined));
    const after = await scrape(gateway.opsUrl);
    expect(metricSample(after, 'imagehost_queue_jobs', { queue: 'ingest', state: 'waiting' })).toBe(0);
    expect(metricSample(after, 'imagehost_served_bytes_total')).toBe(jpeg.length);
    expect(metricSample(after, 'imagehost_http_request_duration_seconds_count', { method: 'GET', route: '/:imageKey', status_code: '200' })).toBeGreaterThanOrEqual(1);

    const workerMetrics = await scrape(ingest.opsUrl);
    expect(metricSample(workerMetrics, 'imagehost_jobs_total', { queue: 'ingest', outcome: 'completed' })).toBe(1);
    expect(metricSample(workerMetrics, 'imagehost_job_duration_seconds_count', { queue: 'ingest', outcome: 'completed' })).toBe(1);

    // A refusal is counted by its reason.
    expect((await uploadImage(stack.baseUrl, await fixtures.gif(), 'a.png')).status).toBe(415);
    expect(metricSample(await scrape(gateway.opsUrl), 'imagehost_uploads_refused_total', { reason: 'UNSUPPORTED_IMAGE_TYPE' })).toBe(1);
    // Never a key or an id as a label.
    expect(after).not.toContain(imageKey);
  });

  it('counts purged images in the reaper', async () => {
    const posted = await uploadImage(stack.baseUrl, await fixtures.rgbPng(), 'a.png');
    const keys = posted.json as { image_key: string; delete_key: string };
    await waitFor('the image to be readable', async () => ((await request(stack.url(`/${keys.image_key}`))).status === 200 ? true : undefined));
    const deleted = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', headers: { 'x-delete-key': keys.delete_key } });
    expect(deleted.status).toBe(200);
    const reaper = stack.service('reaper');
    await waitFor('the purge to be counted', async () => (metricSample(await scrape(reaper.opsUrl), 'imagehost_images_purged_total') >= 1 ? true : undefined));
  });

  it('serves bull-board on the gateway ops port only with the credential', async () => {
    const gateway = stack.service('gateway');
    expect((await request(`${gateway.opsUrl}/queues`)).status).toBe(401);
    const wrong = Buffer.from('operator:wrong-secret-here').toString('base64');
    expect((await request(`${gateway.opsUrl}/queues`, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
    const right = Buffer.from(credentials).toString('base64');
    const page = await request(`${gateway.opsUrl}/queues`, { headers: { authorization: `Basic ${right}` } });
    expect(page.status).toBe(200);
    expect(page.body.toString('utf8')).toContain('<html');
    const api = await request(`${gateway.opsUrl}/queues/api/queues`, { headers: { authorization: `Basic ${right}` } });
    expect(api.status).toBe(200);
    expect(JSON.stringify(api.json)).toContain('ingest');
    // Never on the public port.
    expect((await request(stack.url('/queues'))).status).toBe(404);
  });

  it('has no queue dashboard when no credential is set', async () => {
    const reaper = stack.service('reaper');
    expect((await request(`${reaper.opsUrl}/queues`)).status).toBe(404);
  });
});

describe('rate limits held in Redis across two gateways', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.start({ env: { UPLOAD_RATE_LIMIT: '4', KEY_FAILURE_RATE_LIMIT: '3', TRUST_PROXY: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack.stop();
  });

  async function startSecondGateway(env: Record<string, string> = {}): Promise<string> {
    const port = await freePort();
    // Ready to serve, not only listening: a request before its Redis connects would get 503.
    await (await stack.startService('gateway', { PORT: String(port), ...env })).waitUntilServing();
    return `http://127.0.0.1:${port}`;
  }

  it('counts uploads per client across replicas, answering 429 with Retry-After and RateLimit headers', async () => {
    const second = await startSecondGateway();
    const png = await fixtures.onePixelPng();
    const client = { 'x-forwarded-for': '203.0.113.7' };
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.png', bytes: png }]);
    const post = (base: string, headers: Record<string, string>) =>
      request(`${base}/`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } });

    const statuses = [];
    for (const base of [stack.baseUrl, second, stack.baseUrl, second]) statuses.push((await post(base, client)).status);
    expect(statuses).toEqual([201, 201, 201, 201]);
    const limited = await post(second, client);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('ratelimit-limit')).toBe('4');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('ratelimit-policy')).toBe('4;w=60');
    expect((await post(stack.baseUrl, client)).status).toBe(429);
    // Another client is not affected; reads are never limited.
    expect((await post(stack.baseUrl, { 'x-forwarded-for': '203.0.113.8' })).status).toBe(201);
    expect((await request(stack.url('/openapi.json'), { headers: client })).status).toBe(200);
  });

  it('counts failed key attempts per client and then refuses even the right key', async () => {
    const keys = (await uploadImage(stack.baseUrl, await fixtures.onePixelPng(), 'a.png')).json as { image_key: string; delete_key: string };
    const client = { 'x-forwarded-for': '198.51.100.20' };
    for (let attempt = 0; attempt < 3; attempt++) {
      const wrong = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', headers: { ...client, 'x-delete-key': 'x'.repeat(43) } });
      expect(wrong.status).toBe(403);
    }
    const blocked = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', headers: { ...client, 'x-delete-key': keys.delete_key } });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).not.toBeNull();
    const fromElsewhere = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', headers: { 'x-forwarded-for': '198.51.100.21', 'x-delete-key': keys.delete_key } });
    expect(fromElsewhere.status).toBe(200);
  });

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    const untrusting = await startSecondGateway({ TRUST_PROXY: '', UPLOAD_RATE_LIMIT: '2' });
    const png = await fixtures.onePixelPng();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      // A different claimed address every time: without trust, all count as the one real peer.
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.png', bytes: png }]);
      const result = await request(`${untrusting}/`, { method: 'POST', body, headers: { 'content-type': contentType, 'x-forwarded-for': `192.0.2.${i + 1}` } });
      statuses.push(result.status);
    }
    // The real peer (loopback) already spent part of its allowance in the tests above, so
    // the refusal may come sooner; with X-Forwarded-For believed, all three would pass.
    expect(statuses[2]).toBe(429);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM mid-upload: the client gets its answer, no job is left behind, the processes exit in time', async () => {
    const stack = await TestStack.start({ env: { SHUTDOWN_DRAIN_MS: '300', SHUTDOWN_TIMEOUT_MS: '10000' } });
    try {
      const gateway = stack.service('gateway');
      const ingest = stack.service('ingest');
      const jpeg = await fixtures.baselineJpeg(800, 600);
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: jpeg }]);
      // A slow upload: the body trickles in while the processes are told to stop.
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          const half = Math.floor(body.length / 2);
          controller.enqueue(body.subarray(0, half));
          // The slow client is the behaviour under test: the rest comes after the signal.
          await new Promise((resolve) => setTimeout(resolve, 600));
          controller.enqueue(body.subarray(half));
          controller.close();
        },
      });
      const answer = fetch(stack.url('/'), {
        method: 'POST',
        body: stream,
        headers: { 'content-type': contentType },
        duplex: 'half',
      });
      await waitFor('the upload to be in flight', async () => (metricSample(await scrape(gateway.opsUrl), 'imagehost_upload_memory_bytes') > 0 ? true : undefined), 5_000, 10);
      const stoppedAt = Date.now();
      const gatewayStopped = gateway.stop('SIGTERM');
      const ingestStopped = ingest.stop('SIGTERM');
      // Readiness drops first (once the signal is handled), while the upload is still running.
      await waitFor(
        'readiness to drop',
        async () => {
          const readiness = await request(`${gateway.opsUrl}/readyz`).catch(() => undefined);
          return readiness === undefined || readiness.status === 503 ? true : undefined;
        },
        2_000,
        20,
      );

      // The upload is answered: 201 if it was ingested before the worker stopped, else 202
      // at once (it is safe in the queue) rather than after the rest of INGEST_WAIT_MS.
      const response = await answer;
      expect([201, 202]).toContain(response.status);
      const { image_key: imageKey } = (await response.json()) as { image_key: string };
      await Promise.all([gatewayStopped, ingestStopped]);
      expect(Date.now() - stoppedAt).toBeLessThan(5_000);
      expect(gateway.exit).toEqual({ code: 0, signal: null });
      expect(ingest.exit).toEqual({ code: 0, signal: null });
      // Nothing stalled: no job held by the stopped worker.
      expect((await stack.jobCounts()).ingest).toMatchObject({ active: 0, failed: 0 });

      // The next replicas pick up where these left off.
      await stack.startService('ingest');
      await stack.startService('gateway');
      const got = await waitFor('the upload to be served', async () => {
        const result = await request(stack.url(`/${imageKey}`));
        return result.status === 200 ? result : undefined;
      });
      expect(got.body.equals(jpeg)).toBe(true);
    } finally {
      await stack.stop();
    }
  });
});
