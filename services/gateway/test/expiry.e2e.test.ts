import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { imageObjectsPrefix } from '@imagehost/keys';
import { TestStack, fixtures, freePort, multipartBody, request, waitFor } from '@imagehost/testing';

// Expiry against the real processes, two gateways on the same backends: an image with a short
// lifetime is served by both until its expires_at and 404 on both from then on (every 200
// was asked for before it, every 404 answered after it: the processes share this machine's
// clock), its keys die with it, and the reaper's expiry purge leaves nothing in the bucket or
// the collection within a minute.

const LIFETIME_S = 4;
let stack: TestStack;
let second: string;

beforeAll(async () => {
  stack = await TestStack.start({ env: { EXPIRY_SWEEP_INTERVAL_MS: '1000', MAX_IMAGE_LIFETIME: '3600' } });
  const port = await freePort();
  await stack.startService('gateway', { PORT: String(port) });
  second = `http://127.0.0.1:${port}`;
  await stack.processes.at(-1)?.waitUntilServing();
});

afterAll(async () => {
  await stack.stop();
});

interface Answer {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
  readonly expires_at: string | null;
}

interface Observation {
  readonly gateway: string;
  readonly status: number;
  readonly sentAt: number;
  readonly answeredAt: number;
}

describe('an image with expires_in', () => {
  it('is served by every gateway until expires_at, 404 on every one and every method after, then purged', async () => {
    const bytes = await fixtures.baselineJpeg();
    const before = Date.now();
    const upload = multipartBody([{ name: 'image', filename: 'a.jpg', bytes }, { name: 'expires_in', value: String(LIFETIME_S) }]);
    const posted = await request(stack.url('/'), { method: 'POST', body: upload.body, headers: { 'content-type': upload.contentType } });
    expect(posted.status).toBe(201);
    const answer = posted.json as unknown as Answer;
    const expiresAt = Date.parse(answer.expires_at ?? '');
    expect(expiresAt).toBeGreaterThanOrEqual(before + LIFETIME_S * 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + LIFETIME_S * 1000);

    // Both gateways, polled until each has said 404 a few times.
    const seen: Observation[] = [];
    const gone = new Map<string, number>();
    await waitFor(
      'both gateways to answer 404',
      async () => {
        for (const gateway of [stack.baseUrl, second]) {
          const sentAt = Date.now();
          const got = await request(`${gateway}/${answer.image_key}`);
          const answeredAt = Date.now();
          seen.push({ gateway, status: got.status, sentAt, answeredAt });
          if (got.status === 200) expect(got.body.equals(bytes)).toBe(true);
          if (got.status === 404) gone.set(gateway, (gone.get(gateway) ?? 0) + 1);
        }
        return gone.size === 2 && [...gone.values()].every((count) => count >= 3) ? true : undefined;
      },
      (LIFETIME_S + 20) * 1000,
      100,
    );
    for (const gateway of [stack.baseUrl, second]) {
      const mine = seen.filter((o) => o.gateway === gateway);
      // Served just before the expiry, on each gateway: within the last second of its life.
      expect(mine.some((o) => o.status === 200 && o.sentAt >= expiresAt - 1000)).toBe(true);
      // A 200 only for requests sent before expires_at, a 404 only for answers after it, and
      // once 404, never served again.
      expect(mine.filter((o) => o.status === 200 && o.sentAt >= expiresAt)).toEqual([]);
      expect(mine.filter((o) => o.status === 404 && o.answeredAt < expiresAt)).toEqual([]);
      const firstGone = mine.findIndex((o) => o.status === 404);
      expect(mine.slice(firstGone).map((o) => o.status)).toEqual(mine.slice(firstGone).map(() => 404));
    }

    // The keys died with it: the uploader can neither replace nor delete it.
    const form = multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.rgbPng() }]);
    const patched = await request(stack.url(`/${answer.image_key}`), {
      method: 'PATCH',
      body: form.body,
      headers: { 'content-type': form.contentType, 'x-update-key': answer.update_key },
    });
    expect([patched.status, patched.json?.code]).toEqual([404, 'IMAGE_NOT_FOUND']);
    const deleted = await request(`${second}/${answer.image_key}`, { method: 'DELETE', headers: { 'x-delete-key': answer.delete_key } });
    expect([deleted.status, deleted.json?.code]).toEqual([404, 'IMAGE_NOT_FOUND']);

    // Purged by the reaper: nothing of it in the bucket or the collection, within a minute.
    await waitFor(
      'the expired image to be purged',
      async () => {
        const [record, objects] = await Promise.all([stack.images.findAny(answer.image_key), stack.objects.listObjectKeys(imageObjectsPrefix(answer.image_key))]);
        return record === undefined && objects.length === 0 ? true : undefined;
      },
      Math.max(1000, expiresAt + 60_000 - Date.now()),
      250,
    );
    expect(await stack.recordCount()).toBe(0);
    expect(await stack.objectKeys()).toEqual([]);
    expect(await stack.leftoverJobs()).toEqual([]);
  });

  it('refuses a lifetime over MAX_IMAGE_LIFETIME with 400, leaving nothing behind', async () => {
    const form = multipartBody([
      { name: 'expires_in', value: '3601' },
      { name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() },
    ]);
    const refused = await request(stack.url('/'), { method: 'POST', body: form.body, headers: { 'content-type': form.contentType } });
    expect([refused.status, refused.json?.code]).toEqual([400, 'EXPIRES_IN_TOO_LONG']);
    expect(await stack.objectKeys()).toEqual([]);
    expect(await stack.recordCount()).toBe(0);
    expect(await stack.leftoverJobs()).toEqual([]);
  });
});
