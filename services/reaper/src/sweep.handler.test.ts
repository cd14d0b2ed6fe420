import { describe, expect, it } from '@jest/globals';
import type { IngestJobData } from '@imagehost/jobs';
import { orphanAction } from './sweep.handler.js';

// What the sweep does with a version object that no pending job will ingest: the decision
// that turns a Redis data loss into a re-ingest, and everything else into a removal.

const hash = (c: string) => c.repeat(64);
const create: IngestJobData = {
  kind: 'create',
  imageKey: 'AAAAAAAAAAAAAAAA',
  versionId: 'VVVVVVVVVVVVVVV1',
  objectKey: 'images/AAAAAAAAAAAAAAAA/VVVVVVVVVVVVVVV1',
  deleteKeyHash: hash('a'),
  updateKeyHash: hash('b'),
  acceptedAt: 2_000,
};
const replace: IngestJobData = { ...create, kind: 'replace', versionId: 'VVVVVVVVVVVVVVV2', expectedUpdateKeyHash: hash('b'), acceptedAt: 3_000 };
const record = (versionId: string, updatedAt: number, deletedAt: Date | null = null) => ({ versionId, updatedAt: new Date(updatedAt), deletedAt });
const absent = { state: 'absent' } as const;
const failed = (failedReason: string) => ({ state: 'failed', failedReason });

describe('orphanAction', () => {
  it('keeps the current version and the objects of a deleted image (its purge takes them)', () => {
    expect(orphanAction(create.versionId, record(create.versionId, 2_000), create, absent)).toBe('keep');
    expect(orphanAction(replace.versionId, record(create.versionId, 2_000, new Date(5_000)), replace, absent)).toBe('keep');
  });

  it('runs a lost job again: a new image with no record, or a replacement newer than the current version', () => {
    expect(orphanAction(create.versionId, undefined, create, absent)).toBe('reingest');
    expect(orphanAction(replace.versionId, record(create.versionId, 2_000), replace, absent)).toBe('reingest');
  });

  it('runs a job again that gave up in a backend outage, but not a refused or poison one', () => {
    expect(orphanAction(create.versionId, undefined, create, failed('BACKEND_UNAVAILABLE: MongoDB is unavailable (findAny)'))).toBe('reingest');
    expect(orphanAction(create.versionId, undefined, create, failed('IMAGE_UNDECODABLE: the image does not decode'))).toBe('remove');
    // BullMQ's reason for a job that stalled too often (pinned in libs/jobs/test/job-outcomes.test.ts).
    expect(orphanAction(create.versionId, undefined, create, failed('job stalled more than allowable limit'))).toBe('remove');
  });

  it('removes superseded versions, replacements of vanished images, finished jobs and objects without a job', () => {
    expect(orphanAction(replace.versionId, record('VVVVVVVVVVVVVVV3', 4_000), replace, absent)).toBe('remove');
    expect(orphanAction(create.versionId, record(replace.versionId, 3_000), create, absent)).toBe('remove');
    expect(orphanAction(replace.versionId, undefined, replace, absent)).toBe('remove');
    expect(orphanAction(create.versionId, undefined, create, { state: 'completed', failedReason: '' })).toBe('remove');
    expect(orphanAction(create.versionId, undefined, undefined, absent)).toBe('remove');
  });
});
