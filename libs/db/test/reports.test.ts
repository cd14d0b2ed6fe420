import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { ReportRepository, connectDatabase, type NewReport } from '@imagehost/db';
import { generateReportId, hashReporter } from '@imagehost/keys';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

// The reports repository on the suite's MongoDB-protocol server: one open report per client
// and image (also when they race), the queue oldest first in pages, resolving an image's
// reports at once, and the gauges' figures.

const settings = testBackendSettings();
let connection: Connection;
let reports: ReportRepository;
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

function report(imageKey: string, client: string, atMs: number): NewReport {
  return { _id: generateReportId(atMs), imageKey, reporter: hashReporter(client), reason: 'abuse', details: 'details', contact: null, createdAt: new Date(atMs) };
}

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('reports') });
  reports = new ReportRepository(connection);
  await reports.prepare();
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

describe('ReportRepository', () => {
  it('keeps one open report per client and image, even from 20 concurrent attempts', async () => {
    expect(await reports.open(report('imageAAAAAAAAAAA', '192.0.2.1', T0))).toEqual({ opened: true });
    expect(await reports.open(report('imageAAAAAAAAAAA', '192.0.2.1', T0 + 1))).toEqual({ opened: false });
    expect(await reports.open(report('imageAAAAAAAAAAA', '192.0.2.2', T0 + 2))).toEqual({ opened: true });
    expect(await reports.open(report('imageBBBBBBBBBBB', '192.0.2.1', T0 + 3))).toEqual({ opened: true });
    expect(await reports.countOpen('imageAAAAAAAAAAA')).toBe(2);

    for (let round = 0; round < 20; round++) {
      const outcomes = await Promise.all(Array.from({ length: 5 }, (_, n) => reports.open(report(`race${String(round).padStart(12, '0')}`, '198.51.100.7', T0 + 10 + n))));
      expect([round, outcomes.filter((outcome) => outcome.opened).length]).toEqual([round, 1]);
    }
  });

  it('lists a status oldest first in pages, and resolving an image closes all its open reports and lets its reporters report again', async () => {
    const queue = await reports.list('open', 2);
    expect(queue.map((r) => r.imageKey)).toEqual(['imageAAAAAAAAAAA', 'imageAAAAAAAAAAA']);
    expect(queue[0]).toEqual({
      _id: expect.any(String), imageKey: 'imageAAAAAAAAAAA', reporter: hashReporter('192.0.2.1'), reason: 'abuse', details: 'details', contact: null,
      status: 'open', createdAt: new Date(T0), resolvedAt: null, resolution: null,
    });
    const next = await reports.list('open', 2, queue[1]?._id);
    expect(next[0]?.imageKey).toBe('imageBBBBBBBBBBB');

    expect(await reports.openStats()).toEqual({ open: 23, oldestCreatedAt: new Date(T0) });
    const resolvedAt = new Date(T0 + 60_000);
    expect(await reports.resolveOpen('imageAAAAAAAAAAA', 'dismissed', resolvedAt, 'not abuse')).toBe(2);
    expect(await reports.resolveOpen('imageAAAAAAAAAAA', 'dismissed', resolvedAt, 'again')).toBe(0);
    expect(await reports.countOpen('imageAAAAAAAAAAA')).toBe(0);
    expect((await reports.list('dismissed', 10)).map((r) => [r.imageKey, r.resolution, r.resolvedAt])).toEqual([
      ['imageAAAAAAAAAAA', 'not abuse', resolvedAt],
      ['imageAAAAAAAAAAA', 'not abuse', resolvedAt],
    ]);
    expect(await reports.openStats()).toEqual({ open: 21, oldestCreatedAt: new Date(T0 + 3) });
    // Resolved, the client may report the image again.
    expect(await reports.open(report('imageAAAAAAAAAAA', '192.0.2.1', T0 + 120_000))).toEqual({ opened: true });
    expect((await reports.listForImage('imageAAAAAAAAAAA')).map((r) => r.status)).toEqual(['dismissed', 'dismissed', 'open']);
  });
});
