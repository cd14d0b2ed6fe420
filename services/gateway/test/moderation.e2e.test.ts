import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { imageObjectsPrefix, quarantinePrefix } from '@imagehost/keys';
import {
  TestStack,
  fixtures,
  jpegSegment,
  metricSample,
  multipartBody,
  phoneExif,
  request,
  uploadImage,
  waitFor,
  withJpegSegments,
  type GatewayProcess,
  type HttpResult,
} from '@imagehost/testing';

// Takedown, restore and the blocklist on the real processes with two gateway replicas: what
// the public sees on each right after an admin call on one of them, what is left where in
// the bucket, and the races of a takedown with the uploader's PATCH and DELETE.

const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdefghijklmnop';
const RETENTION_MS = 15_000;
const ROUNDS = 20;

let stack: TestStack;
let a: GatewayProcess;
let b: GatewayProcess;

/** A process's `imagehost_blocklist_refusals_total` for this kind of match, from its /metrics. */
async function blocklistRefusals(opsUrl: string, match: 'exact' | 'perceptual'): Promise<number> {
  return metricSample((await request(`${opsUrl}/metrics`)).body.toString('utf8'), 'imagehost_blocklist_refusals_total', { match });
}

beforeAll(async () => {
  stack = await TestStack.start({
    services: ['ingest', 'reaper'],
    env: {
      ADMIN_TOKEN,
      TAKEDOWN_RETENTION_MS: String(RETENTION_MS),
      SUPERSEDED_REAP_DELAY_MS: '200',
      SWEEP_INTERVAL_MS: '1000',
      SWEEP_GRACE_MS: '3000',
      JOB_LOCK_MS: '2000',
    },
  });
  a = await stack.startGateway();
  b = await stack.startGateway();
}, 120_000);

afterAll(async () => {
  await stack.stop();
});

interface Keys {
  image_key: string;
  delete_key: string;
  update_key: string;
}

async function store(gateway: GatewayProcess, bytes: Buffer): Promise<Keys> {
  const posted = await uploadImage(gateway.baseUrl, bytes, 'photo.jpg');
  expect(posted.status).toBe(201);
  return posted.json as unknown as Keys;
}

function patch(gateway: GatewayProcess, imageKey: string, bytes: Buffer, updateKey: string): Promise<HttpResult> {
  const { body, contentType } = multipartBody([{ name: 'image', filename: 'b.jpg', bytes }]);
  return request(gateway.url(`/${imageKey}`), { method: 'PATCH', body, headers: { 'content-type': contentType, 'x-update-key': updateKey } });
}

function admin(gateway: GatewayProcess, method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN): Promise<HttpResult> {
  const headers: Record<string, string> = { 'x-request-id': `e2e-${method.toLowerCase()}-${path.split('/').pop() ?? ''}` };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return request(`${gateway.adminUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

const takeDown = (gateway: GatewayProcess, imageKey: string, reason = 'legal') => admin(gateway, 'POST', `/admin/images/${imageKey}/takedown`, { reason, note: 'e2e notice' });

function statusOn(gateway: GatewayProcess, imageKey: string, method = 'GET'): Promise<HttpResult> {
  return request(gateway.url(`/${imageKey}`), { method });
}

/** A photo-like JPEG with a phone's EXIF (GPS, maker note): metadata stripping changes its bytes. */
async function photoWithExif(seed: number): Promise<Buffer> {
  const thumbnail = await fixtures.baselineJpeg(16, 12);
  return withJpegSegments(await fixtures.scene(seed), [jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), phoneExif(1, thumbnail)]))]);
}

function auditLines(gateway: GatewayProcess): Record<string, unknown>[] {
  return gateway.service.logs().filter((line) => line.audit === true);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the admin API', () => {
  it('answers nothing on the public port, 401 without a token and 403 with a wrong one', async () => {
    for (const path of ['/admin/images/AAAAAAAAAAAAAAAA', '/admin/blocklist', '/admin/images/AAAAAAAAAAAAAAAA/takedown']) {
      for (const method of ['GET', 'POST']) {
        const response = await request(a.url(path), { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: method === 'POST' ? '{"reason":"legal"}' : undefined });
        expect([path, method, response.status, response.json?.code]).toEqual([path, method, 404, 'NOT_FOUND']);
      }
    }
    const missing = await admin(a, 'GET', '/admin/blocklist', undefined, null);
    expect([missing.status, missing.json?.code, missing.headers.get('www-authenticate')?.startsWith('Bearer')]).toEqual([401, 'ADMIN_TOKEN_MISSING', true]);
    const wrong = await admin(a, 'GET', '/admin/blocklist', undefined, `${ADMIN_TOKEN}-not`);
    expect([wrong.status, wrong.json?.code]).toEqual([403, 'ADMIN_TOKEN_INVALID']);
  });
});

describe('a takedown', () => {
  let original: Buffer;
  let keys: Keys;
  let takenDownAt: number;

  it('is 451 on both replicas right after it returns, its bytes move to quarantine, and it is audited', async () => {
    original = await photoWithExif(7);
    keys = await store(a, original);
    const servedBytes = (await statusOn(b, keys.image_key)).body;
    expect(servedBytes.length).toBeGreaterThan(0);
    expect(servedBytes.length).toBeLessThan(original.length);
    // Each replica reads it twice, so each holds it in its byte cache.
    for (const gateway of [a, b, a, b]) expect((await statusOn(gateway, keys.image_key)).body.equals(servedBytes)).toBe(true);
    const [versionKey] = await stack.objects.listObjectKeys(imageObjectsPrefix(keys.image_key));

    const down = await takeDown(a, keys.image_key, 'copyright');
    takenDownAt = Date.now();
    expect(down.status).toBe(200);
    expect(down.json).toMatchObject({ state: 'taken-down', quarantined_objects: 1, blocklist_entries_added: 3, takedown: { reason: 'copyright', note: 'e2e notice' } });

    for (const gateway of [b, a]) {
      for (const method of ['GET', 'HEAD']) {
        const response = await statusOn(gateway, keys.image_key, method);
        expect([gateway.baseUrl, method, response.status]).toEqual([gateway.baseUrl, method, 451]);
        if (method === 'GET') expect(response.json).toMatchObject({ statusCode: 451, error: 'Unavailable For Legal Reasons', code: 'IMAGE_TAKEN_DOWN' });
      }
    }
    // The uploader's keys no longer work.
    expect((await patch(b, keys.image_key, await fixtures.scene(99), keys.update_key)).json?.code).toBe('IMAGE_TAKEN_DOWN');
    const deleted = await request(b.url(`/${keys.image_key}`), { method: 'DELETE', headers: { 'x-delete-key': keys.delete_key } });
    expect([deleted.status, deleted.json?.code]).toEqual([451, 'IMAGE_TAKEN_DOWN']);

    expect(await stack.objects.listObjectKeys(imageObjectsPrefix(keys.image_key))).toEqual([]);
    const quarantined = await stack.objects.listObjectKeys(quarantinePrefix(keys.image_key));
    expect(quarantined).toEqual([versionKey?.replace(/^images\//, 'quarantine/')]);
    expect((await stack.objects.readObject(quarantined[0] ?? '', 10_000_000))?.equals(servedBytes)).toBe(true);

    const inspected = await admin(b, 'GET', `/admin/images/${keys.image_key}`);
    expect(inspected.json).toMatchObject({
      state: 'taken-down',
      sha256: sha256(servedBytes),
      uploaded_sha256: sha256(original),
      perceptual_hash: expect.stringMatching(/^[0-9a-f]{16}$/),
      perceptual_dct_hash: expect.stringMatching(/^[0-9a-f]{16}$/),
      reports: [],
    });
    expect(inspected.body.toString()).not.toContain(keys.delete_key);
    // The perceptual entry holds both hashes, so copies are matched on both.
    const { perceptual_hash: dHash, perceptual_dct_hash: pHash } = inspected.json as { perceptual_hash: string; perceptual_dct_hash: string };
    const listed = (await admin(b, 'GET', '/admin/blocklist')).json as { entries: { kind: string; hash: string; dct_hash: string | null; image_key: string }[] };
    expect(listed.entries.filter((entry) => entry.kind === 'perceptual')).toEqual([expect.objectContaining({ hash: dHash, dct_hash: pHash, image_key: keys.image_key })]);

    const audit = await waitFor('the takedown audit line', async () => auditLines(a).find((line) => line.action === 'takedown'));
    expect(audit).toMatchObject({ audit: true, action: 'takedown', imageKey: keys.image_key, reason: 'copyright', requestId: `e2e-post-takedown`, outcome: 'ok' });
    await waitFor('the inspection audit line', async () => auditLines(b).find((line) => line.action === 'inspect' && line.imageKey === keys.image_key));
    for (const gateway of [a, b]) for (const line of gateway.service.lines) for (const secret of [keys.delete_key, keys.update_key, ADMIN_TOKEN]) expect(line).not.toContain(secret);
  });

  it('blocks the same bytes, as uploaded and as stored, on POST and PATCH, before anything is stored', async () => {
    const served = await stack.objects.readObject((await stack.objects.listObjectKeys(quarantinePrefix(keys.image_key)))[0] ?? '', 10_000_000);
    const other = await store(b, await fixtures.scene(40));
    const objectsBefore = await stack.objectKeys();
    const recordsBefore = await stack.recordCount();
    for (const bytes of [original, served ?? Buffer.alloc(0)]) {
      for (const gateway of [a, b]) {
        const posted = await uploadImage(gateway.baseUrl, bytes, 'again.jpg');
        expect([posted.status, posted.json?.code]).toEqual([451, 'CONTENT_BLOCKED']);
        const patched = await patch(gateway, other.image_key, bytes, other.update_key);
        expect([patched.status, patched.json?.code]).toEqual([451, 'CONTENT_BLOCKED']);
      }
    }
    expect(await stack.objectKeys()).toEqual(objectsBefore);
    expect(await stack.recordCount()).toBe(recordsBefore);
    // Two files, POST and PATCH, on each gateway: each refusal counted by the gateway that made it.
    expect(await blocklistRefusals(a.service.opsUrl, 'exact')).toBe(4);
    expect(await blocklistRefusals(b.service.opsUrl, 'exact')).toBe(4);
    // The refused PATCHes changed nothing: the old keys still work.
    expect((await patch(a, other.image_key, await fixtures.scene(41), other.update_key)).status).toBe(200);
  });

  it('blocks a re-encoded and a resized copy by their picture, leaving nothing behind', async () => {
    const reencoded = await sharp(original).jpeg({ quality: 40 }).toBuffer();
    const resized = await sharp(original).resize(320).jpeg({ quality: 85 }).toBuffer();
    for (const [copy, gateway] of [[reencoded, a], [resized, b]] as const) {
      const posted = await uploadImage(gateway.baseUrl, copy, 'copy.jpg');
      expect([posted.status, posted.json?.code]).toEqual([451, 'CONTENT_BLOCKED']);
    }
    const unrelated = await uploadImage(a.baseUrl, await fixtures.scene(123), 'other.jpg');
    expect(unrelated.status).toBe(201);
    expect(await blocklistRefusals(stack.service('ingest').opsUrl, 'perceptual')).toBe(2);
    // The refused copies' objects go to the reaper: the bucket ends with only what records account for.
    await stack.waitUntilConsistent(15_000);
  });

  it('purges the quarantined bytes and the record once the retention is over', async () => {
    await waitFor(
      'the retention purge',
      async () => ((await stack.objects.listObjectKeys(quarantinePrefix(keys.image_key))).length === 0 && (await stack.images.findAny(keys.image_key)) === undefined ? true : undefined),
      RETENTION_MS + 20_000,
      250,
    );
    expect(Date.now() - takenDownAt).toBeGreaterThanOrEqual(RETENTION_MS - 1000);
    expect((await statusOn(b, keys.image_key)).status).toBe(404);
    // The content stays blocked after the purge.
    expect((await uploadImage(a.baseUrl, original, 'again.jpg')).json?.code).toBe('CONTENT_BLOCKED');
  }, RETENTION_MS + 40_000);
});

describe('restore', () => {
  it('within the retention brings the image back byte for byte on both replicas, with its keys', async () => {
    const keys = await store(b, await photoWithExif(8));
    const before = await statusOn(a, keys.image_key);
    expect((await takeDown(b, keys.image_key, 'other')).status).toBe(200);
    expect((await statusOn(a, keys.image_key)).status).toBe(451);
    const restored = await admin(a, 'POST', `/admin/images/${keys.image_key}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.json).toMatchObject({ state: 'live', takedown: null, blocklist_entries_removed: 3 });
    for (const gateway of [a, b]) {
      const after = await statusOn(gateway, keys.image_key);
      expect([after.status, after.body.equals(before.body), after.headers.get('etag')]).toEqual([200, true, before.headers.get('etag')]);
    }
    expect(await stack.objects.listObjectKeys(quarantinePrefix(keys.image_key))).toEqual([]);
    expect((await uploadImage(a.baseUrl, before.body, 'again.jpg')).status).toBe(201);
    expect((await patch(a, keys.image_key, await fixtures.scene(77), keys.update_key)).status).toBe(200);
    await waitFor('the restore audit line', async () => auditLines(a).find((line) => line.action === 'restore' && line.imageKey === keys.image_key && line.outcome === 'ok'));
  });
});

describe('races', () => {
  it(`a takedown racing a PATCH never ends with the content served (${ROUNDS} rounds)`, async () => {
    const outcomes: string[] = [];
    const takenDown: { imageKey: string; at: number }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const keys = await store(a, await fixtures.scene(1000 + round, 160, 120));
      const replacement = await fixtures.scene(2000 + round, 160, 120);
      // The takedown starts from 0 to 190 ms after the PATCH, so rounds land on each side of
      // the worker's compare-and-set as well as before the PATCH is even stored.
      const [patched, down] = await Promise.all([
        patch(a, keys.image_key, replacement, keys.update_key),
        new Promise((resolve) => setTimeout(resolve, (round % 10) * 20)).then(() => takeDown(b, keys.image_key)),
      ]);
      expect([round, down.status]).toEqual([round, 200]);
      takenDown.push({ imageKey: keys.image_key, at: Date.now() });
      // A refused PATCH that was stored first was refused by the worker's compare-and-set.
      const stored = a.service.logs().some((line) => line.msg === 'upload stored, ingest queued' && line.imageKey === keys.image_key && line.kind === 'replace');
      outcomes.push(patched.status === 200 ? 'patch won, then taken down' : stored ? 'patch stored, refused by the worker' : 'patch refused before storing');
      expect([round, [200, 451].includes(patched.status)]).toEqual([round, true]);
      for (const gateway of [a, b]) expect([round, (await statusOn(gateway, keys.image_key)).status]).toEqual([round, 451]);
    }
    // Whichever won, nothing of these images is left where it is served; each stays 451 until
    // its retention ends and the sweep purges it (then 404).
    for (const { imageKey, at } of takenDown) {
      await waitFor(`nothing served of ${imageKey}`, async () => ((await stack.objects.listObjectKeys(imageObjectsPrefix(imageKey))).length === 0 ? true : undefined), 15_000, 100);
      for (const gateway of [a, b]) {
        const { status } = await statusOn(gateway, imageKey);
        expect([imageKey, status, status === 451 || (status === 404 && Date.now() - at >= RETENTION_MS)]).toEqual([imageKey, status, true]);
      }
    }
    process.stderr.write(`takedown vs PATCH: ${JSON.stringify(tally(outcomes))}\n`);
  }, 180_000);

  it(`a takedown racing a DELETE has one winner and leaves nothing served or leaked (${ROUNDS} rounds)`, async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const keys = await store(b, await fixtures.scene(3000 + round, 160, 120));
      const [deleted, down] = await Promise.all([request(a.url(`/${keys.image_key}`), { method: 'DELETE', headers: { 'x-delete-key': keys.delete_key } }), takeDown(b, keys.image_key)]);
      const winner = deleted.status === 200 ? 'delete' : 'takedown';
      outcomes.push(winner);
      expect([round, deleted.status, down.status]).toEqual(winner === 'delete' ? [round, 200, 404] : [round, 451, 200]);
      for (const gateway of [a, b]) expect([round, (await statusOn(gateway, keys.image_key)).status]).toEqual([round, winner === 'delete' ? 404 : 451]);
    }
    // Every object is accounted for: served ones by live records, quarantined ones by takedowns; deletions purged.
    await stack.waitUntilConsistent(20_000);
    process.stderr.write(`takedown vs DELETE: ${JSON.stringify(tally(outcomes))}\n`);
  }, 180_000);
});

function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}
