import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { ReportRecord } from '@imagehost/db';
import { generateReportId, hashReporter } from '@imagehost/keys';
import { fixtures, multipartBody } from '@imagehost/testing';
import { TEST_START_MS, expectError, startTestGateway, type TestGateway } from '../testing/test-gateway.js';
import { buildAdminApp } from './admin-app.js';

// The moderation queue on the admin API in-process, over the public gateway's fakes (the
// reports repository answering scripted pages and lookups): listing, dismissing (which shows
// a hidden image again) and taking down from a report, each audited.

const TOKEN = 'an-admin-token-of-more-than-32-characters';
let gateway: TestGateway;
let admin: FastifyInstance;
let lines: Record<string, unknown>[];
const tookDown: string[] = [];

beforeEach(async () => {
  gateway = await startTestGateway({ REPORT_HIDE_THRESHOLD: '1' });
  lines = [];
  tookDown.length = 0;
  const logStream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  admin = await buildAdminApp(
    { token: TOKEN, logLevel: 'info', logStream },
    {
      images: gateway.images,
      objects: gateway.objects,
      blocklist: gateway.blocklist,
      reportQueue: gateway.reports,
      retentionMs: 30 * 24 * 3600_000,
      clock: () => gateway.time.now,
      tookDown: (reason) => tookDown.push(reason),
    },
  );
  await admin.ready();
});

afterEach(async () => {
  await admin.close();
  await gateway.close();
});

function call(method: 'GET' | 'POST', url: string, body?: unknown, token = TOKEN) {
  return admin.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-7', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function openReport(imageKey: string, offsetMs = 0): ReportRecord {
  const at = TEST_START_MS + offsetMs;
  return {
    _id: generateReportId(at), imageKey, reporter: hashReporter('192.0.2.1'), reason: 'abuse', details: 'harassment', contact: null,
    status: 'open', createdAt: new Date(at), resolvedAt: null, resolution: null,
  };
}

async function reportedImage(): Promise<{ imageKey: string; deleteKey: string; report: ReportRecord }> {
  const posted = await gateway.sendForm('POST', '/', multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]));
  const { image_key: imageKey, delete_key: deleteKey } = posted.json<{ image_key: string; delete_key: string }>();
  // The public report hides it (REPORT_HIDE_THRESHOLD 1).
  const reported = await gateway.request({ method: 'POST', url: `/${imageKey}/report`, headers: { 'content-type': 'application/json' }, payload: '{"reason":"abuse"}' });
  expect(reported.statusCode).toBe(202);
  expect((await gateway.request({ method: 'GET', url: `/${imageKey}` })).statusCode).toBe(404);
  const report = openReport(imageKey);
  gateway.reports.byId.set(report._id, report);
  return { imageKey, deleteKey, report };
}

const audits = () => lines.filter((line) => line.audit === true);

describe('GET /admin/reports', () => {
  it('lists the open reports by default, oldest first as the repository pages them, with the cursor of the next page', async () => {
    gateway.reports.page = [openReport('AAAAAAAAAAAAAAAA'), openReport('BBBBBBBBBBBBBBBB', 1000)];
    const listed = await call('GET', '/admin/reports?limit=2');
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({
      reports: [
        {
          id: gateway.reports.page[0]?._id, image_key: 'AAAAAAAAAAAAAAAA', reason: 'abuse', details: 'harassment', contact: null,
          reporter: hashReporter('192.0.2.1'), status: 'open', created_at: new Date(TEST_START_MS).toISOString(), resolved_at: null, resolution: null,
        },
        expect.objectContaining({ image_key: 'BBBBBBBBBBBBBBBB', created_at: new Date(TEST_START_MS + 1000).toISOString() }),
      ],
      next_after: gateway.reports.page[1]?._id,
    });
    expect((await call('GET', `/admin/reports?status=dismissed&after=${gateway.reports.page[1]?._id}`)).json()).toMatchObject({ next_after: null });
    expect(gateway.reports.listed).toEqual([
      { status: 'open', limit: 2, after: undefined },
      { status: 'dismissed', limit: 50, after: gateway.reports.page[1]?._id },
    ]);
    expect(audits().map((line) => [line.action, line.outcome, line.requestId])).toEqual([
      ['reports.list', 'ok', 'req-7'],
      ['reports.list', 'ok', 'req-7'],
    ]);
  });

  it('refuses an unknown status or a bad page size with 400, and no token with 401', async () => {
    expectError(await call('GET', '/admin/reports?status=closed'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/admin/reports?limit=0'), 400, 'BAD_REQUEST');
    expect((await admin.inject({ method: 'GET', url: '/admin/reports' })).statusCode).toBe(401);
    expect(gateway.reports.listed).toEqual([]);
  });
});

describe('POST /admin/reports/{id}/resolve', () => {
  it('dismiss: resolves the image’s open reports and shows the hidden image again', async () => {
    const { imageKey, report } = await reportedImage();
    const resolved = await call('POST', `/admin/reports/${report._id}/resolve`, { action: 'dismiss', note: 'a holiday photo' });
    expect(resolved.statusCode).toBe(200);
    expect(resolved.json()).toEqual({ image_key: imageKey, action: 'dismiss', reports_resolved: 1, unhidden: true });
    expect(gateway.reports.resolutions).toEqual([{ imageKey, status: 'dismissed', at: new Date(TEST_START_MS), note: 'a holiday photo' }]);
    expect((await gateway.request({ method: 'GET', url: `/${imageKey}` })).statusCode).toBe(200);
    expect(audits()).toEqual([expect.objectContaining({ action: 'reports.dismiss', imageKey, outcome: 'ok', requestId: 'req-7' })]);
  });

  it('takedown: takes the image down (451 for the public), blocks its content, marks its reports actioned', async () => {
    const { imageKey, deleteKey, report } = await reportedImage();
    const resolved = await call('POST', `/admin/reports/${report._id}/resolve`, { action: 'takedown', reason: 'abuse' });
    expect(resolved.statusCode).toBe(200);
    expect(resolved.json()).toMatchObject({ image_key: imageKey, action: 'takedown', reports_resolved: 1, already_taken_down: false, quarantined_objects: 1 });
    expectError(await gateway.request({ method: 'GET', url: `/${imageKey}` }), 451, 'IMAGE_TAKEN_DOWN');
    expect(gateway.blocklist.entries.size).toBeGreaterThan(0);
    expect(gateway.reports.resolutions).toEqual([{ imageKey, status: 'actioned', at: new Date(TEST_START_MS), note: null }]);
    expect(tookDown).toEqual(['abuse']);
    const line = audits()[0];
    expect(line).toMatchObject({ action: 'reports.takedown', imageKey, reason: 'abuse', outcome: 'ok' });
    expect(JSON.stringify(audits())).not.toContain(deleteKey);
  });

  it('refuses a takedown without a reason (400), an unknown report (404) and a resolved one (409), changing nothing', async () => {
    const { imageKey, report } = await reportedImage();
    expectError(await call('POST', `/admin/reports/${report._id}/resolve`, { action: 'takedown' }), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/admin/reports/${report._id}/resolve`, { action: 'erase' }), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/admin/reports/${generateReportId(TEST_START_MS)}/resolve`, { action: 'dismiss' }), 404, 'NOT_FOUND');
    expectError(await call('POST', '/admin/reports/not-an-id/resolve', { action: 'dismiss' }), 404, 'NOT_FOUND');
    gateway.reports.byId.set(report._id, { ...report, status: 'dismissed' });
    expectError(await call('POST', `/admin/reports/${report._id}/resolve`, { action: 'dismiss' }), 409, 'CONFLICT');
    expect(gateway.reports.resolutions).toEqual([]);
    const record = gateway.images.records.get(imageKey);
    expect([record?.takedown ?? null, record?.hiddenAt]).toEqual([null, new Date(TEST_START_MS)]);
    expect(audits().map((line) => [line.action, line.outcome, line.code])).toEqual([
      ['reports.takedown', 'refused', 'BAD_REQUEST'],
      ['reports.resolve', 'refused', 'BAD_REQUEST'],
      ['reports.dismiss', 'refused', 'NOT_FOUND'],
      ['reports.dismiss', 'refused', 'NOT_FOUND'],
      ['reports.dismiss', 'refused', 'CONFLICT'],
    ]);
  });
});
