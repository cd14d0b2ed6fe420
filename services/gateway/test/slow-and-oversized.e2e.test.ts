import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashCapabilityKey } from '@imagehost/keys';
import { TestStack, fixtures, metricSample, request, uploadImage, waitFor, type HttpResult } from '@imagehost/testing';

// Slow, silent and oversized uploads against the real processes (issue 14): sockets that
// announce large uploads and go silent neither starve other clients nor hold on past the idle
// timeout, and a refusal sent before the body is read reaches Node's own fetch.

const IDLE_MS = 4000;
/** Time the gateway may take beyond the idle timeout to answer and close. */
const CLOSE_MARGIN_MS = 2000;
/** What one address may have in progress (the default). */
const PER_CLIENT = 4;
let stack: TestStack;
let port: number;

beforeAll(async () => {
  stack = await TestStack.start({
    env: { UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS), UPLOADS_IN_PROGRESS_PER_CLIENT: String(PER_CLIENT), TRUST_PROXY: '127.0.0.1' },
  });
  port = Number(new URL(stack.baseUrl).port);
});

afterAll(async () => {
  await stack.stop();
});

async function uploadMemory(): Promise<number> {
  const metrics = await request(`${stack.service('gateway').opsUrl}/metrics`);
  return metricSample(metrics.body.toString('utf8'), 'imagehost_upload_memory_bytes');
}

interface Attacker {
  /** Resolves once the gateway closed the socket (or the test gave up on it). */
  readonly closed: Promise<{ text: string; closedAfterMs: number }>;
  isOpen(): boolean;
}

/**
 * A socket that announces a multipart upload of `contentLength` bytes, sends its headers and
 * 3 bytes of body, then nothing; from `localAddress`, or speaking for `forwardedFor` through
 * the trusted proxy address.
 */
async function silentUpload(contentLength: number, from: { localAddress?: string; forwardedFor?: string }): Promise<Attacker> {
  const socket: Socket = connect({ port, host: '127.0.0.1', ...(from.localAddress === undefined ? {} : { localAddress: from.localAddress }) });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const forwarded = from.forwardedFor === undefined ? '' : `X-Forwarded-For: ${from.forwardedFor}\r\n`;
  socket.write(
    `POST / HTTP/1.1\r\nHost: imagehost\r\n${forwarded}Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: ${contentLength}\r\n\r\n--x`,
  );
  const sentAt = Date.now();
  let open = true;
  const closed = new Promise<{ text: string; closedAfterMs: number }>((resolve) => {
    const chunks: Buffer[] = [];
    const giveUp = setTimeout(() => socket.destroy(), IDLE_MS + 30_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      open = false;
      clearTimeout(giveUp);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - sentAt });
    });
  });
  return { closed, isOpen: () => open };
}

/** `count` uploads of a 159 KiB PNG, `concurrency` at a time, from 127.0.0.1. */
async function legitimateUploads(count: number, concurrency: number): Promise<HttpResult[]> {
  const png = await fixtures.noisePng(230, 230);
  const results: HttpResult[] = [];
  for (let round = 0; round < count / concurrency; round += 1) {
    results.push(...(await Promise.all(Array.from({ length: concurrency }, () => uploadImage(stack.baseUrl, png, 'legit.png')))));
  }
  return results;
}

async function expectAttackersClosed(attackers: readonly Attacker[], statuses: readonly number[]): Promise<void> {
  const outcomes = await Promise.all(attackers.map((attacker) => attacker.closed));
  for (const { text, closedAfterMs } of outcomes) {
    expect(statuses).toContain(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]));
    expect(text).toContain('application/json');
    expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_MS - 500);
    expect(closedAfterMs).toBeLessThan(IDLE_MS + CLOSE_MARGIN_MS);
  }
  await waitFor('the upload memory to be back to 0', async () => ((await uploadMemory()) === 0 ? true : undefined), 5000);
}

describe('sockets that announce large uploads and go silent', () => {
  it('ten from one address: uploads from another address all succeed, the ten are closed after the idle timeout', async () => {
    const attackers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => silentUpload(i < 9 ? 10_480_000 : 6_300_000, { localAddress: '127.0.0.2' })),
    );
    const results = await legitimateUploads(12, 3);
    const stillOpen = attackers.filter((attacker) => attacker.isOpen()).length;

    expect(results.map((result) => result.status).filter((status) => status !== 201 && status !== 202)).toEqual([]);
    // The uploads ran beside the attack, not after it.
    expect(stillOpen).toBe(10);
    // PER_CLIENT of them were taken and timed out; the rest were refused as one client's excess.
    await expectAttackersClosed(attackers, [408, 429]);
  });

  it('forty from forty addresses behind a trusted proxy, one each: uploads still succeed', async () => {
    const attackers = await Promise.all(Array.from({ length: 40 }, (_, i) => silentUpload(10_480_000, { forwardedFor: `127.1.0.${i + 1}` })));
    const results = await legitimateUploads(12, 3);
    const stillOpen = attackers.filter((attacker) => attacker.isOpen()).length;

    expect(results.map((result) => result.status).filter((status) => status !== 201 && status !== 202)).toEqual([]);
    expect(stillOpen).toBe(40);
    await expectAttackersClosed(attackers, [408]);
  });

  it('one more than the per-client cap from one address is refused 429 with Retry-After', async () => {
    const held = await Promise.all(Array.from({ length: PER_CLIENT }, () => silentUpload(100_000, { localAddress: '127.0.0.3' })));
    const extra = await silentUpload(100_000, { localAddress: '127.0.0.3' });
    const { text } = await extra.closed;
    expect(text).toMatch(/^HTTP\/1\.1 429/);
    expect(text).toMatch(/\r\nretry-after: 2\r\n/i);
    expect(text).toContain('"code":"TOO_MANY_UPLOADS_IN_PROGRESS"');
    await expectAttackersClosed(held, [408]);
  });
});

describe('a silent body', () => {
  it('is answered 408 UPLOAD_TIMEOUT in JSON and closed within UPLOAD_IDLE_TIMEOUT_MS + 2 s', async () => {
    const silent = await silentUpload(200_000, {});
    const { text, closedAfterMs } = await silent.closed;
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 408, code: 'UPLOAD_TIMEOUT' });
    expect(closedAfterMs).toBeLessThan(IDLE_MS + CLOSE_MARGIN_MS);
    expect(await uploadMemory()).toBe(0);
  });
});

describe("oversized uploads through Node's fetch with FormData", () => {
  const OVERSIZED_BYTES = 13_500_000;

  function oversizedForm(fields: Readonly<Record<string, string>> = {}): FormData {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('image', new Blob([Buffer.alloc(OVERSIZED_BYTES, 0x89)]), 'big.png');
    return form;
  }

  async function send(method: 'POST' | 'PATCH', path: string, form: FormData, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
    const response = await fetch(stack.url(path), { method, body: form, headers, signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: await response.json() };
  }

  it('POST: the client reads the 413 JSON body', async () => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(await send('POST', '/', oversizedForm())).toEqual({
        status: 413,
        body: { statusCode: 413, error: 'Payload Too Large', code: 'IMAGE_TOO_LARGE', message: expect.any(String) },
      });
    }
  });

  it('PATCH: the client reads the 413 JSON body, and the image and its keys stay as they were', async () => {
    const original = await fixtures.rgbPng();
    const created = await uploadImage(stack.baseUrl, original, 'keep.png');
    expect(created.status).toBe(201);
    const key = String(created.json?.image_key);
    const updateKey = String(created.json?.update_key);

    const refusals = [
      await send('PATCH', `/${key}`, oversizedForm(), { 'x-update-key': updateKey }),
      await send('PATCH', `/${key}`, oversizedForm({ update_key: updateKey })),
    ];
    for (const refused of refusals) expect(refused).toMatchObject({ status: 413, body: { code: 'IMAGE_TOO_LARGE' } });

    const view = await request(stack.url(`/${key}`));
    expect(view.status).toBe(200);
    expect(view.body).toEqual(original);
    const record = await stack.images.findLive(key);
    expect(record).toMatchObject({ updateKeyHash: hashCapabilityKey(updateKey), deleteKeyHash: hashCapabilityKey(String(created.json?.delete_key)) });
    const deleted = await request(stack.url(`/${key}`), {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delete_key: created.json?.delete_key }),
    });
    expect(deleted.status).toBe(200);
  });
});
