import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { imageObjectsPrefix } from '@imagehost/keys';
import { TestStack, fixtures, multipartBody, request, truncated, uploadImage, waitFor, type FormPart, type HttpResult } from '@imagehost/testing';

// PATCH and DELETE against the real processes: key rotation, refusals that change nothing,
// purges by the reaper, and one winner per race.

let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start({
    env: { MAX_UPLOAD_BYTES: '200000', SUPERSEDED_REAP_DELAY_MS: '200', SWEEP_INTERVAL_MS: '1000', SWEEP_GRACE_MS: '3000', JOB_LOCK_MS: '2000' },
  });
});

afterAll(async () => {
  await stack.stop();
});

interface Keys {
  image_key: string;
  delete_key: string;
  update_key: string;
}

async function store(bytes: Buffer, filename = 'a.png'): Promise<Keys> {
  const posted = await uploadImage(stack.baseUrl, bytes, filename);
  expect(posted.status).toBe(201);
  return posted.json as unknown as Keys;
}

type KeyPlacement = 'header' | 'field-before' | 'field-after' | 'none';

async function patch(imageKey: string, bytes: Buffer, updateKey: string, placement: KeyPlacement = 'header', filename = 'b.png'): Promise<HttpResult> {
  const file: FormPart = { name: 'image', filename, bytes };
  const field: FormPart = { name: 'update_key', value: updateKey };
  const parts = placement === 'field-before' ? [field, file] : placement === 'field-after' ? [file, field] : [file];
  const { body, contentType } = multipartBody(parts);
  const headers: Record<string, string> = { 'content-type': contentType };
  if (placement === 'header') headers['x-update-key'] = updateKey;
  return request(stack.url(`/${imageKey}`), { method: 'PATCH', body, headers });
}

async function del(imageKey: string, deleteKey: string | undefined, via: 'body' | 'header' = 'body'): Promise<HttpResult> {
  if (via === 'header') return request(stack.url(`/${imageKey}`), { method: 'DELETE', headers: deleteKey === undefined ? {} : { 'x-delete-key': deleteKey } });
  return request(stack.url(`/${imageKey}`), {
    method: 'DELETE',
    body: JSON.stringify(deleteKey === undefined ? {} : { delete_key: deleteKey }),
    headers: { 'content-type': 'application/json' },
  });
}

async function served(imageKey: string): Promise<HttpResult> {
  return request(stack.url(`/${imageKey}`));
}

async function objectsOf(imageKey: string): Promise<string[]> {
  return stack.objects.listObjectKeys(imageObjectsPrefix(imageKey));
}

const otherKey = () => createHash('sha256').update(String(Math.random())).digest('base64url').slice(0, 43);

describe('PATCH', () => {
  it.each(['header', 'field-before', 'field-after'] as const)('replaces the bytes and rotates both keys (key as %s)', async (placement) => {
    const original = await fixtures.baselineJpeg();
    const keys = await store(original, 'a.jpg');
    const replacement = await fixtures.rgbaPng(30, 20);
    const patched = await patch(keys.image_key, replacement, keys.update_key, placement);
    expect(patched.status).toBe(200);
    const fresh = patched.json as unknown as Keys;
    expect(fresh.image_key).toBe(keys.image_key);
    expect(fresh.delete_key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh.update_key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh.delete_key).not.toBe(keys.delete_key);
    expect(fresh.update_key).not.toBe(keys.update_key);
    expect(patched.json).toMatchObject({ content_type: 'image/png', width: 30, height: 20, bytes: replacement.length });

    const got = await served(keys.image_key);
    expect(got.body.equals(replacement)).toBe(true);
    expect(got.headers.get('content-type')).toBe('image/png');

    // The old keys are dead at once.
    expect((await patch(keys.image_key, original, keys.update_key)).status).toBe(403);
    expect((await del(keys.image_key, keys.delete_key)).status).toBe(403);
    expect((await served(keys.image_key)).body.equals(replacement)).toBe(true);
    // The new ones work.
    expect((await patch(keys.image_key, original, fresh.update_key, 'header', 'c.jpg')).status).toBe(200);
    // The superseded versions are reaped: one object left, the current one.
    await waitFor('superseded versions to be reaped', async () => ((await objectsOf(keys.image_key)).length === 1 ? true : undefined));
    expect((await served(keys.image_key)).body.equals(original)).toBe(true);
  });

  it('refuses a missing, wrong or malformed key and an unknown image, changing nothing', async () => {
    const original = await fixtures.rgbPng();
    const keys = await store(original);
    const replacement = await fixtures.baselineJpeg();
    const missing = await patch(keys.image_key, replacement, '', 'none');
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ code: 'KEY_MISSING' });
    expect((await patch(keys.image_key, replacement, keys.delete_key, 'header')).status).toBe(403);
    expect((await patch(keys.image_key, replacement, otherKey(), 'field-after')).status).toBe(403);
    expect((await patch(keys.image_key, replacement, 'short', 'field-before')).status).toBe(403);
    expect((await patch('AAAAAAAAAAAAAAAA', replacement, keys.update_key)).status).toBe(404);
    expect((await patch('not-a-key', replacement, keys.update_key)).status).toBe(404);

    expect((await served(keys.image_key)).body.equals(original)).toBe(true);
    await waitFor('refused uploads to be reaped', async () => ((await objectsOf(keys.image_key)).length === 1 ? true : undefined));
    expect((await patch(keys.image_key, replacement, keys.update_key)).status).toBe(200);
  });

  it('keeps the old image and keys when the replacement is refused (413, 415, 422)', async () => {
    const original = await fixtures.rgbPng();
    const keys = await store(original);
    const refusals: [Buffer, string, number][] = [
      [await fixtures.gif(), 'x.png', 415],
      [await fixtures.rgbPng(), 'x.gif', 415],
      [truncated(await fixtures.baselineJpeg(200, 200)), 'x.jpg', 422],
      [await fixtures.noisePng(400, 300), 'x.png', 413],
    ];
    for (const [bytes, filename, status] of refusals) {
      for (const placement of ['header', 'field-after'] as const) {
        const result = await patch(keys.image_key, bytes, keys.update_key, placement, filename);
        expect([filename, placement, result.status]).toEqual([filename, placement, status]);
      }
    }
    const got = await served(keys.image_key);
    expect(got.body.equals(original)).toBe(true);
    await waitFor('refused replacements to be reaped', async () => ((await objectsOf(keys.image_key)).length === 1 ? true : undefined));
    // The old keys still work.
    expect((await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key)).status).toBe(200);
  });
});

describe('DELETE', () => {
  it.each(['body', 'header'] as const)('deletes with the key in the %s: 404 on every method from then on, purged soon after', async (via) => {
    const keys = await store(await fixtures.rgbPng());
    const deleted = await del(keys.image_key, keys.delete_key, via);
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ image_key: keys.image_key });

    expect((await served(keys.image_key)).status).toBe(404);
    expect((await request(stack.url(`/${keys.image_key}`), { method: 'HEAD' })).status).toBe(404);
    expect((await patch(keys.image_key, await fixtures.rgbPng(), keys.update_key)).status).toBe(404);
    expect((await del(keys.image_key, keys.delete_key)).status).toBe(404);

    await waitFor('the purge of the deleted image', async () => {
      const [objects, record] = await Promise.all([objectsOf(keys.image_key), stack.images.findAny(keys.image_key)]);
      return objects.length === 0 && record === undefined ? true : undefined;
    });
  });

  it('refuses a wrong or missing key, and malformed bodies, changing nothing', async () => {
    const bytes = await fixtures.rgbPng();
    const keys = await store(bytes);
    expect((await del(keys.image_key, keys.update_key)).status).toBe(403);
    expect((await del(keys.image_key, otherKey(), 'header')).status).toBe(403);
    expect((await del(keys.image_key, 'x')).status).toBe(403);
    expect((await del(keys.image_key, undefined)).status).toBe(401);
    expect((await del(keys.image_key, undefined, 'header')).status).toBe(401);
    const malformed = ['{not json', '[]', '"just a string"', '{"delete_key": 123}', '{"delete_key": {"$ne": ""}}', '{"delete_key": ["a"]}', 'null'];
    for (const body of malformed) {
      const result = await request(stack.url(`/${keys.image_key}`), { method: 'DELETE', body, headers: { 'content-type': 'application/json' } });
      expect([body, result.status]).toEqual([body, 400]);
      expect(result.json).toMatchObject({ statusCode: 400 });
    }
    expect((await del('AAAAAAAAAAAAAAAA', keys.delete_key)).status).toBe(404);
    expect((await served(keys.image_key)).body.equals(bytes)).toBe(true);
    expect((await del(keys.image_key, keys.delete_key)).status).toBe(200);
  });
});

// One winner per race rests on the MongoDB server's single-document atomicity (proved on its
// own in the backends' tests). Rare interleavings need many rounds to show: a stand-in that
// let two compare-and-sets through failed these in a few rounds out of ten.
describe('races', () => {
  const PATCH_RACE_ROUNDS = 20;
  const PATCH_DELETE_ROUNDS = 50;

  it(`of 8 concurrent PATCHes with one key, exactly one wins and the image is its bytes (${PATCH_RACE_ROUNDS} rounds)`, async () => {
    const candidates = await Promise.all(Array.from({ length: 8 }, (_, i) => fixtures.baselineJpeg(20 + i, 20)));
    const stored: string[] = [];
    for (let round = 0; round < PATCH_RACE_ROUNDS; round++) {
      const keys = await store(await fixtures.rgbPng());
      stored.push(keys.image_key);
      const results = await Promise.all(candidates.map((bytes) => patch(keys.image_key, bytes, keys.update_key)));
      const statuses = results.map((r) => r.status);
      expect([round, statuses.filter((s) => s === 200).length]).toEqual([round, 1]);
      for (const status of statuses.filter((s) => s !== 200)) expect([403, 404, 409]).toContain(status);
      const winner = statuses.indexOf(200);
      expect((await served(keys.image_key)).body.equals(candidates[winner] ?? Buffer.alloc(0))).toBe(true);
      // Only the winner's keys work: the original update key is dead, the winner's is live.
      const winnerKeys = results[winner]?.json as unknown as Keys;
      expect((await patch(keys.image_key, await fixtures.rgbPng(), keys.update_key)).status).toBe(403);
      expect((await del(keys.image_key, winnerKeys.delete_key)).status).toBe(200);
    }
    // The losers' uploads and the deleted images are reaped: nothing of these images is left.
    await waitFor('the losers and the deleted images to be purged', async () => {
      const left = await Promise.all(stored.map(async (key) => (await objectsOf(key)).length + ((await stack.images.findAny(key)) === undefined ? 0 : 1)));
      return left.every((n) => n === 0) ? true : undefined;
    }, 30_000);
  }, 180_000);

  it(`a PATCH and a DELETE with the original keys never both succeed, and the end state is the winner’s (${PATCH_DELETE_ROUNDS} rounds)`, async () => {
    // A DELETE is one compare-and-set; a PATCH's comes after its upload and ingest. Sent at
    // once, the DELETE always wins, so each round delays it by another fraction of a PATCH's
    // time: the rounds sweep it across the moment the ingest worker switches the version.
    let calibration = await store(await fixtures.rgbPng());
    const patchMs: number[] = [];
    for (let n = 0; n < 3; n++) {
      const started = performance.now();
      const result = await patch(calibration.image_key, await fixtures.baselineJpeg(12, 12), calibration.update_key);
      patchMs.push(performance.now() - started);
      calibration = result.json as unknown as Keys;
    }
    const typicalPatchMs = patchMs.sort((x, y) => x - y)[1] ?? 0;

    const outcomes = { patched: 0, deleted: 0 };
    for (let round = 0; round < PATCH_DELETE_ROUNDS; round++) {
      const keys = await store(await fixtures.rgbPng());
      const replacement = await fixtures.baselineJpeg(10 + (round % 40), 10);
      const deleteAfterMs = ((round % 25) / 25) * 1.5 * typicalPatchMs;
      const [patched, deleted] = await Promise.all([
        patch(keys.image_key, replacement, keys.update_key),
        // The offset between the racing requests is the behaviour under test.
        sleep(deleteAfterMs).then(() => del(keys.image_key, keys.delete_key)),
      ]);
      const winners = [patched.status, deleted.status].filter((s) => s === 200);
      expect([round, winners.length]).toEqual([round, 1]);
      const got = await served(keys.image_key);
      const record = await stack.images.findAny(keys.image_key);
      if (deleted.status === 200) {
        outcomes.deleted++;
        expect([round, patched.status, [403, 404, 409].includes(patched.status)]).toEqual([round, patched.status, true]);
        expect([round, got.status]).toEqual([round, 404]);
        // Deleted: a tombstone until the reaper purges it, never a live record.
        expect([round, record === undefined || record.deletedAt !== null]).toEqual([round, true]);
      } else {
        outcomes.patched++;
        expect([round, deleted.status]).toEqual([round, 403]);
        expect([round, got.status, got.body.equals(replacement)]).toEqual([round, 200, true]);
        expect([round, record?.deletedAt]).toEqual([round, null]);
        // The replacement's keys rule now: its delete key deletes.
        const fresh = patched.json as unknown as Keys;
        expect([round, (await del(keys.image_key, fresh.delete_key)).status]).toEqual([round, 200]);
      }
    }
    // The sweep did cross the switch: both sides won some rounds.
    expect(outcomes.patched).toBeGreaterThan(0);
    expect(outcomes.deleted).toBeGreaterThan(0);
    // Every image ends deleted; the reaper must leave no object without a record.
    expect((await del(calibration.image_key, calibration.delete_key)).status).toBe(200);
    await stack.waitUntilConsistent(30_000);
  }, 180_000);
});

describe('logs', () => {
  it('never contain a delete or update key, whether sent in a header, a form field or a body', async () => {
    const keys = await store(await fixtures.rgbPng());
    const viaHeader = await patch(keys.image_key, await fixtures.baselineJpeg(), keys.update_key, 'header');
    const second = viaHeader.json as unknown as Keys;
    const viaField = await patch(keys.image_key, await fixtures.rgbPng(), second.update_key, 'field-before');
    const third = viaField.json as unknown as Keys;
    expect((await del(keys.image_key, third.delete_key, 'body')).status).toBe(200);
    // Keys in the query string are not how keys are sent, but a client may do it anyway.
    await request(stack.url(`/${keys.image_key}?delete_key=${third.delete_key}&update_key=${third.update_key}`));
    const logs = stack.processes.flatMap((p) => p.lines).join('\n');
    expect(logs).toContain(keys.image_key);
    for (const key of [keys.delete_key, keys.update_key, second.delete_key, second.update_key, third.delete_key, third.update_key]) {
      expect(logs).not.toContain(key);
    }
  });
});

describe('the reaper', () => {
  it('leaves no object without a record and no deleted record behind', async () => {
    const keys = await store(await fixtures.rgbPng());
    expect((await del(keys.image_key, keys.delete_key)).status).toBe(200);
    // An object no record will ever point to, as an abandoned upload leaves.
    await stack.objects.putObject('images/ABANDONEDupload1/ABANDONEDupload1', Buffer.from('x'), 'image/png');
    await stack.waitUntilConsistent(20_000);
  });

  it('killed mid-purge and restarted, finishes the purge', async () => {
    const keys = await store(await fixtures.rgbPng());
    const prefix = imageObjectsPrefix(keys.image_key);
    // Many leftover versions, so the purge takes long enough to be killed in the middle.
    const planted = Array.from({ length: 600 }, (_, i) => `${prefix}planted${String(i).padStart(8, '0')}`);
    for (let at = 0; at < planted.length; at += 50) {
      await Promise.all(planted.slice(at, at + 50).map((key) => stack.objects.putObject(key, Buffer.from('v'), 'image/png')));
    }
    const reaper = stack.service('reaper');
    await reaper.stop('SIGKILL');
    expect((await del(keys.image_key, keys.delete_key)).status).toBe(200);

    const restarted = await stack.startService('reaper');
    await waitFor('the purge to be under way', async () => ((await objectsOf(keys.image_key)).length < planted.length ? true : undefined), 20_000, 5);
    await restarted.stop('SIGKILL');
    const left = (await objectsOf(keys.image_key)).length;
    expect(left).toBeGreaterThan(0);
    expect(await stack.images.findAny(keys.image_key)).toMatchObject({ deletedAt: expect.any(Date) });
    expect((await served(keys.image_key)).status).toBe(404);

    await stack.startService('reaper');
    await waitFor(
      'the purge to finish after the restart',
      async () => {
        const [objects, record] = await Promise.all([objectsOf(keys.image_key), stack.images.findAny(keys.image_key)]);
        return objects.length === 0 && record === undefined ? true : undefined;
      },
      30_000,
    );
  });
});
