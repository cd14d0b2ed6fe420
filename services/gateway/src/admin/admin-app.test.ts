import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { AppError } from '@imagehost/errors';
import { fixtures, multipartBody } from '@imagehost/testing';
import { TEST_START_MS, expectError, startTestGateway, type TestGateway } from '../testing/test-gateway.js';
import { buildAdminApp } from './admin-app.js';

// The admin API in-process, over the same fakes as a public gateway: the token check on every
// route, one audit line per action (never a key in it), and what a takedown, a restore and
// the blocklist do to what the public gets.

const TOKEN = 'an-admin-token-of-more-than-32-characters';
const DAY = 24 * 3600_000;
const RETENTION_MS = 30 * DAY;

let gateway: TestGateway;
let admin: FastifyInstance;
let lines: Record<string, unknown>[];

beforeEach(async () => {
  gateway = await startTestGateway();
  lines = [];
  const logStream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  takedownsCounted.length = 0;
  admin = await buildAdminApp(
    { token: TOKEN, logLevel: 'info', logStream },
    {
      images: gateway.images,
      objects: gateway.objects,
      blocklist: gateway.blocklist,
      reportQueue: gateway.reports,
      retentionMs: RETENTION_MS,
      clock: () => gateway.time.now,
      tookDown: (reason) => takedownsCounted.push(reason),
    },
  );
  await admin.ready();
});

afterEach(async () => {
  await admin.close();
  await gateway.close();
});

/** What the takedowns counter was told. */
const takedownsCounted: string[] = [];

function auditLines(): Record<string, unknown>[] {
  return lines.filter((line) => line.audit === true);
}

function call(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) {
  return admin.inject({
    method,
    url,
    headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': 'req-1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

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

function objectKeysUnder(prefix: string): string[] {
  return [...gateway.objects.objects.keys()].filter((key) => key.startsWith(prefix));
}

describe('the token', () => {
  it('absent: 401 with WWW-Authenticate, and no route runs', async () => {
    const { image_key } = await store(await fixtures.rgbPng());
    const response = await admin.inject({ method: 'POST', url: `/admin/images/${image_key}/takedown`, payload: { reason: 'legal' } });
    expectError(response, 401, 'ADMIN_TOKEN_MISSING');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(gateway.images.records.get(image_key)?.takedown).toBeUndefined();
    expect(auditLines()).toEqual([]);
  });

  it.each([
    ['a wrong token', `Bearer ${TOKEN}x`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['another scheme', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ])('%s: 403', async (_case, authorization) => {
    expectError(await admin.inject({ method: 'GET', url: '/admin/blocklist', headers: { authorization } }), 403, 'ADMIN_TOKEN_INVALID');
  });

  it('is checked before a route is even looked for: an unknown path is 401 without it, 404 with it', async () => {
    expectError(await admin.inject({ method: 'GET', url: '/admin/nothing' }), 401, 'ADMIN_TOKEN_MISSING');
    expectError(await call('GET', '/admin/nothing'), 404, 'NOT_FOUND');
  });

  it('is never written to a log line', async () => {
    await call('GET', '/admin/blocklist');
    await admin.inject({ method: 'GET', url: '/admin/blocklist', headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(TOKEN.slice(0, 20));
  });
});

describe('GET /admin/images/{image_key}', () => {
  it('shows the record an operator needs, never a key, key hash or object key, and audits the look', async () => {
    const png = await fixtures.rgbPng();
    gateway.ingest.answerNext({ outcome: 'stored', width: 64, height: 48 });
    const keys = await store(png);
    const response = await call('GET', `/admin/images/${keys.image_key}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const sha256 = createHash('sha256').update(png).digest('hex');
    expect(response.json()).toEqual({
      image_key: keys.image_key,
      state: 'live',
      content_type: 'image/png',
      bytes: png.length,
      width: 64,
      height: 48,
      sha256,
      uploaded_sha256: null,
      perceptual_hash: null,
      perceptual_dct_hash: null,
      version_id: expect.any(String),
      created_at: new Date(TEST_START_MS).toISOString(),
      updated_at: new Date(TEST_START_MS).toISOString(),
      deleted_at: null,
      takedown: null,
      reports: [],
    });
    const record = gateway.images.records.get(keys.image_key);
    for (const secret of [keys.delete_key, keys.update_key, record?.deleteKeyHash, record?.updateKeyHash, record?.objectKey]) expect(response.body).not.toContain(secret);
    expect(auditLines()).toEqual([expect.objectContaining({ action: 'inspect', imageKey: keys.image_key, requestId: 'req-1', outcome: 'ok', listener: 'admin' })]);
  });

  it('an unknown or malformed key: 404, audited as refused; MongoDB away: 503, audited as failed', async () => {
    expectError(await call('GET', '/admin/images/AAAAAAAAAAAAAAAA'), 404, 'IMAGE_NOT_FOUND');
    expectError(await call('GET', '/admin/images/not-a-key'), 404, 'IMAGE_NOT_FOUND');
    gateway.images.down = true;
    expectError(await call('GET', '/admin/images/AAAAAAAAAAAAAAAA'), 503, 'BACKEND_UNAVAILABLE');
    expect(auditLines().map((line) => [line.imageKey, line.outcome, line.code])).toEqual([
      ['AAAAAAAAAAAAAAAA', 'refused', 'IMAGE_NOT_FOUND'],
      ['not-a-key', 'refused', 'IMAGE_NOT_FOUND'],
      ['AAAAAAAAAAAAAAAA', 'failed', 'BACKEND_UNAVAILABLE'],
    ]);
  });
});

describe('takedown', () => {
  it('makes every method 451 at once, cached bytes included, quarantines the bytes and blocks them', async () => {
    const png = await fixtures.rgbPng();
    const keys = await store(png);
    // Read twice: the second read puts the version in the byte cache.
    for (let read = 0; read < 3; read += 1) expect((await gateway.request({ method: 'GET', url: `/${keys.image_key}` })).rawPayload.equals(png)).toBe(true);
    const readsBefore = gateway.objects.reads.length;

    gateway.time.now = TEST_START_MS + 1000;
    const response = await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'copyright', note: 'notice 17' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      state: 'taken-down',
      takedown: { reason: 'copyright', note: 'notice 17', at: new Date(TEST_START_MS + 1000).toISOString(), retain_until: new Date(TEST_START_MS + 1000 + RETENTION_MS).toISOString(), request_id: 'req-1' },
      already_taken_down: false,
      quarantined_objects: 1,
      blocklist_entries_added: 1,
    });

    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 451, 'IMAGE_TAKEN_DOWN');
    const head = await gateway.request({ method: 'HEAD', url: `/${keys.image_key}` });
    expect([head.statusCode, head.rawPayload.length]).toEqual([451, 0]);
    expect(gateway.objects.reads.length).toBe(readsBefore);
    const patched = await gateway.sendForm('PATCH', `/${keys.image_key}`, multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.rgbaPng() }]), { 'x-update-key': keys.update_key });
    expectError(patched, 451, 'IMAGE_TAKEN_DOWN');
    expectError(await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key } }), 451, 'IMAGE_TAKEN_DOWN');

    expect(objectKeysUnder('images/')).toEqual([]);
    const quarantined = objectKeysUnder('quarantine/');
    expect(quarantined).toEqual([`quarantine/${keys.image_key}/${gateway.images.records.get(keys.image_key)?.versionId}`]);
    expect(gateway.objects.objects.get(quarantined[0] ?? '')?.bytes.equals(png)).toBe(true);

    // The same bytes again: refused before anything is stored.
    expectError(await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'c.png', bytes: png }])), 451, 'CONTENT_BLOCKED');
    expect(objectKeysUnder('images/')).toEqual([]);
    expect(gateway.images.records.size).toBe(1);

    expect(auditLines()).toEqual([expect.objectContaining({ action: 'takedown', imageKey: keys.image_key, reason: 'copyright', requestId: 'req-1', outcome: 'ok' })]);
    expect(takedownsCounted).toEqual(['copyright']);
    expect(JSON.stringify(lines)).not.toContain(keys.delete_key);
  });

  it('while the blocklist cannot be read, an upload goes on to the queue, whose worker checks it again', async () => {
    gateway.blocklist.down = true;
    gateway.ingest.answerNext({ outcome: 'refused', error: new AppError('CONTENT_BLOCKED', 'blocked') });
    const png = await fixtures.rgbPng();
    expectError(await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'c.png', bytes: png }])), 451, 'CONTENT_BLOCKED');
    expect(gateway.ingest.jobs).toHaveLength(1);
    gateway.blocklist.down = false;
  });

  it('again on an image already down: finishes nothing left and says so; unknown, deleted or bad input: refused and audited', async () => {
    const keys = await store(await fixtures.rgbPng());
    expect((await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'abuse' })).statusCode).toBe(200);
    const again = await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'legal' });
    expect(again.json()).toMatchObject({ already_taken_down: true, quarantined_objects: 0, blocklist_entries_added: 0, takedown: { reason: 'abuse' } });
    expect(takedownsCounted).toEqual(['abuse']);

    expectError(await call('POST', '/admin/images/AAAAAAAAAAAAAAAA/takedown', { reason: 'legal' }), 404, 'IMAGE_NOT_FOUND');
    expectError(await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'because' }), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'legal', delete_key: 'x' }), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/admin/images/${keys.image_key}/takedown`), 400, 'BAD_REQUEST');
    expect(auditLines().map((line) => [line.action, line.outcome, line.code ?? null])).toEqual([
      ['takedown', 'ok', null],
      ['takedown', 'ok', null],
      ['takedown', 'refused', 'IMAGE_NOT_FOUND'],
      ['takedown', 'refused', 'BAD_REQUEST'],
      ['takedown', 'refused', 'BAD_REQUEST'],
      ['takedown', 'refused', 'BAD_REQUEST'],
    ]);
  });
});

describe('restore', () => {
  it('within the retention: the same bytes served again, the keys working again, unblocked, quarantine emptied', async () => {
    const png = await fixtures.rgbPng();
    const keys = await store(png);
    await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'other' });
    gateway.time.now = TEST_START_MS + RETENTION_MS - 1;
    const restored = await call('POST', `/admin/images/${keys.image_key}/restore`);
    expect(restored.statusCode).toBe(200);
    expect(restored.json()).toMatchObject({ state: 'live', takedown: null, blocklist_entries_removed: 1 });
    const served = await gateway.request({ method: 'GET', url: `/${keys.image_key}` });
    expect([served.statusCode, served.rawPayload.equals(png)]).toEqual([200, true]);
    expect(objectKeysUnder('quarantine/')).toEqual([]);
    expect(gateway.blocklist.entries.size).toBe(0);
    expectError(await call('POST', `/admin/images/${keys.image_key}/restore`), 409, 'CONFLICT');
    const deleted = await gateway.request({ method: 'DELETE', url: `/${keys.image_key}`, headers: { 'x-delete-key': keys.delete_key } });
    expect(deleted.statusCode).toBe(200);
    expect(auditLines().map((line) => [line.action, line.outcome])).toEqual([
      ['takedown', 'ok'],
      ['restore', 'ok'],
      ['restore', 'refused'],
    ]);
  });

  it('past the retention: refused, the image stays down', async () => {
    const keys = await store(await fixtures.rgbPng());
    await call('POST', `/admin/images/${keys.image_key}/takedown`, { reason: 'legal' });
    gateway.time.now = TEST_START_MS + RETENTION_MS;
    expectError(await call('POST', `/admin/images/${keys.image_key}/restore`), 409, 'CONFLICT');
    expectError(await gateway.request({ method: 'GET', url: `/${keys.image_key}` }), 451, 'IMAGE_TAKEN_DOWN');
  });
});

describe('the blocklist', () => {
  const sha = 'ab'.repeat(32);

  it('adds by hash (once), by image key, lists in pages, removes by hash; each audited', async () => {
    const first = await call('POST', '/admin/blocklist', { sha256: sha, reason: 'csam', note: 'hash list 3' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({
      added: [{ id: `sha256:${sha}:-`, kind: 'sha256', hash: sha, dct_hash: null, image_key: null, reason: 'csam', note: 'hash list 3', created_at: new Date(TEST_START_MS).toISOString() }],
    });
    expect((await call('POST', '/admin/blocklist', { sha256: sha, reason: 'csam' })).json()).toEqual({ added: [] });
    expect((await call('POST', '/admin/blocklist', { perceptual_hash: '0123456789abcdef', reason: 'abuse' })).statusCode).toBe(201);
    const keys = await store(await fixtures.rgbPng());
    const fromImage = await call('POST', '/admin/blocklist', { image_key: keys.image_key, reason: 'abuse' });
    expect(fromImage.json<{ added: { kind: string; image_key: string }[] }>().added).toEqual([expect.objectContaining({ kind: 'sha256', image_key: keys.image_key })]);
    // Blocking an image's content does not take the image itself down.
    expect((await gateway.request({ method: 'GET', url: `/${keys.image_key}` })).statusCode).toBe(200);

    const page1 = (await call('GET', '/admin/blocklist?limit=2')).json<{ entries: { id: string }[]; next_after: string | null }>();
    expect(page1.entries).toHaveLength(2);
    const page2 = (await call('GET', `/admin/blocklist?limit=2&after=${encodeURIComponent(page1.next_after ?? '')}`)).json<{ entries: { id: string }[]; next_after: string | null }>();
    expect([...page1.entries, ...page2.entries].map((entry) => entry.id).sort()).toEqual([...gateway.blocklist.entries.keys()].sort());
    expect(page2.next_after).toBeNull();

    expect((await call('DELETE', `/admin/blocklist/${sha}`)).json()).toEqual({ hash: sha, removed: 1 });
    expectError(await call('DELETE', `/admin/blocklist/${sha}`), 404, 'NOT_FOUND');
    expect(auditLines().map((line) => [line.action, line.outcome])).toEqual([
      ['blocklist.add', 'ok'],
      ['blocklist.add', 'ok'],
      ['blocklist.add', 'ok'],
      ['blocklist.add', 'ok'],
      ['blocklist.list', 'ok'],
      ['blocklist.list', 'ok'],
      ['blocklist.remove', 'ok'],
      ['blocklist.remove', 'refused'],
    ]);
  });

  it('refuses anything but exactly one well-formed hash or image key', async () => {
    for (const body of [{ reason: 'x' }, { sha256: sha, image_key: 'AAAAAAAAAAAAAAAA', reason: 'x' }, { sha256: 'ABC', reason: 'x' }, { perceptual_hash: 'xyz', reason: 'x' }, { sha256: sha }]) {
      expectError(await call('POST', '/admin/blocklist', body), 400, 'BAD_REQUEST');
    }
    expectError(await call('POST', '/admin/blocklist', { image_key: 'AAAAAAAAAAAAAAAA', reason: 'x' }), 404, 'IMAGE_NOT_FOUND');
    expectError(await call('DELETE', '/admin/blocklist/not-a-hash'), 400, 'BAD_REQUEST');
    expect(gateway.blocklist.entries.size).toBe(0);
  });
});
