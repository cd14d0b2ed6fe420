import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { ImageRecord } from '@imagehost/db';
import { expectError } from '../testing/test-gateway.js';
import { FakeImages } from '../testing/fakes.js';
import { buildAdminApp } from './admin-app.js';

// The admin API in-process over fakes: the token check on every route, one audit line per
// action (and never a key in it), and the image record an operator sees.

const TOKEN = 'an-admin-token-of-more-than-32-characters';
const IMAGE_KEY = 'AAAAAAAAAAAAAAA1';

let images: FakeImages;
let app: FastifyInstance;
let lines: Record<string, unknown>[];

function record(overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    _id: IMAGE_KEY,
    versionId: 'VVVVVVVVVVVVVVV1',
    objectKey: `images/${IMAGE_KEY}/VVVVVVVVVVVVVVV1`,
    contentType: 'image/png',
    bytes: 1234,
    width: 10,
    height: 20,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: new Date('2026-01-02T03:04:05Z'),
    updatedAt: new Date('2026-01-03T03:04:05Z'),
    deletedAt: null,
    ...overrides,
  };
}

beforeEach(async () => {
  images = new FakeImages();
  lines = [];
  const logStream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  app = await buildAdminApp({ token: TOKEN, logLevel: 'info', logStream }, { images });
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

function auditLines(): Record<string, unknown>[] {
  return lines.filter((line) => line.audit === true);
}

describe('the token', () => {
  it('absent: 401 with WWW-Authenticate, and no route runs', async () => {
    images.records.set(IMAGE_KEY, record());
    const response = await app.inject({ method: 'GET', url: `/admin/images/${IMAGE_KEY}` });
    expectError(response, 401, 'ADMIN_TOKEN_MISSING');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(auditLines()).toEqual([]);
  });

  it.each([
    ['a wrong token', `Bearer ${TOKEN}x`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['another scheme', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ])('%s: 403', async (_case, authorization) => {
    expectError(await app.inject({ method: 'GET', url: `/admin/images/${IMAGE_KEY}`, headers: { authorization } }), 403, 'ADMIN_TOKEN_INVALID');
  });

  it('is checked before a route is even looked for: an unknown path is 401 without it, 404 with it', async () => {
    expectError(await app.inject({ method: 'GET', url: '/admin/nothing' }), 401, 'ADMIN_TOKEN_MISSING');
    expectError(await app.inject({ method: 'GET', url: '/admin/nothing', headers: { authorization: `Bearer ${TOKEN}` } }), 404, 'NOT_FOUND');
  });

  it('is never written to a log line', async () => {
    await app.inject({ method: 'GET', url: `/admin/images/${IMAGE_KEY}`, headers: { authorization: `Bearer ${TOKEN}` } });
    await app.inject({ method: 'GET', url: `/admin/images/${IMAGE_KEY}`, headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
  });
});

describe('GET /admin/images/{image_key}', () => {
  const get = (imageKey: string) => app.inject({ method: 'GET', url: `/admin/images/${imageKey}`, headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': 'req-1' } });

  it('shows the record an operator needs, never a key hash or object key, and audits the look', async () => {
    images.records.set(IMAGE_KEY, record());
    const response = await get(IMAGE_KEY);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({
      image_key: IMAGE_KEY,
      state: 'live',
      content_type: 'image/png',
      bytes: 1234,
      width: 10,
      height: 20,
      sha256: 'a'.repeat(64),
      version_id: 'VVVVVVVVVVVVVVV1',
      created_at: '2026-01-02T03:04:05.000Z',
      updated_at: '2026-01-03T03:04:05.000Z',
      deleted_at: null,
      reports: [],
    });
    expect(response.body).not.toMatch(/dddd|uuuu|images\//);
    expect(auditLines()).toEqual([expect.objectContaining({ action: 'inspect', imageKey: IMAGE_KEY, requestId: 'req-1', outcome: 'ok', listener: 'admin' })]);
  });

  it('an unknown or malformed key: 404, audited as refused', async () => {
    expectError(await get(IMAGE_KEY), 404, 'IMAGE_NOT_FOUND');
    expectError(await get('not-a-key'), 404, 'IMAGE_NOT_FOUND');
    expect(auditLines().map((line) => [line.imageKey, line.outcome, line.code])).toEqual([
      [IMAGE_KEY, 'refused', 'IMAGE_NOT_FOUND'],
      ['not-a-key', 'refused', 'IMAGE_NOT_FOUND'],
    ]);
  });

  it('MongoDB away: 503, audited as failed', async () => {
    images.down = true;
    expectError(await get(IMAGE_KEY), 503, 'BACKEND_UNAVAILABLE');
    expect(auditLines()).toEqual([expect.objectContaining({ action: 'inspect', outcome: 'failed', code: 'BACKEND_UNAVAILABLE' })]);
  });
});
