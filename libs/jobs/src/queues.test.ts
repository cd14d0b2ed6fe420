import { describe, expect, it } from '@jest/globals';
import { AppError } from '@imagehost/errors';
import { generateImageKey, generateVersionId, hashCapabilityKey, objectKeyFor } from '@imagehost/keys';
import { ingestJobId, ingestJobSchema, parseJobData, reapJobId, reapJobSchema } from './queues.js';

function validIngest() {
  const imageKey = generateImageKey();
  const versionId = generateVersionId();
  return {
    kind: 'create' as const,
    imageKey,
    versionId,
    objectKey: objectKeyFor(imageKey, versionId),
    deleteKeyHash: hashCapabilityKey('d'),
    updateKeyHash: hashCapabilityKey('u'),
    acceptedAt: Date.now(),
  };
}

describe('queue payloads', () => {
  it('accept a well-formed ingest payload unchanged', () => {
    const data = validIngest();
    expect(parseJobData(ingestJobSchema, data)).toEqual(data);
  });

  it('refuse payloads carrying anything but hashes, or malformed ids', () => {
    const data = validIngest();
    const bad = [
      { ...data, deleteKeyHash: 'a-raw-capability-key-is-never-a-payload-xxxxx' },
      { ...data, objectKey: '../../etc/passwd' },
      { ...data, imageKey: 'short' },
      { ...data, kind: 'other' },
      { ...data, acceptedAt: -1 },
      null,
    ];
    for (const payload of bad) expect(() => parseJobData(ingestJobSchema, payload)).toThrow(AppError);
    expect(() => parseJobData(reapJobSchema, { target: 'object', objectKey: 'images/x', reason: 'refused' })).toThrow(/objectKey/);
  });

  it('derive deterministic job ids without the separator BullMQ reserves', () => {
    const data = validIngest();
    expect(ingestJobId(data)).toBe(ingestJobId({ ...data }));
    expect(ingestJobId(data)).not.toContain(':');
    const reap = { target: 'object' as const, objectKey: data.objectKey, reason: 'refused' as const };
    expect(reapJobId(reap)).toBe(reapJobId({ ...reap }));
    expect(reapJobId(reap)).not.toContain(':');
  });
});
