import { describe, expect, it } from '@jest/globals';
import { UnrecoverableError } from 'bullmq';
import { AppError } from '@imagehost/errors';
import { decodeJobFailure, encodeJobFailure, failedByStalling, isWaitTimeout, toWorkerError } from './job-outcomes.js';

// The pure parts. BullMQ's own texts are pinned against the real library and Redis in
// test/job-outcomes.test.ts.

describe('refusal encoding', () => {
  it('round-trips a coded refusal, message included', () => {
    const decoded = decodeJobFailure(encodeJobFailure(new AppError('IMAGE_UNDECODABLE', 'premature end: of JPEG')));
    expect(decoded).toBeInstanceOf(AppError);
    expect(decoded?.code).toBe('IMAGE_UNDECODABLE');
    expect(decoded?.statusCode).toBe(422);
    expect(decoded?.message).toBe('premature end: of JPEG');
  });

  it('does not invent a code for foreign failure reasons', () => {
    expect(decodeJobFailure('job stalled more than allowable limit')).toBeUndefined();
    expect(decodeJobFailure('NOT_A_CODE: something')).toBeUndefined();
    expect(decodeJobFailure('constructor: x')).toBeUndefined();
    expect(decodeJobFailure(': x')).toBeUndefined();
  });
});

describe('toWorkerError', () => {
  it('makes refusals unrecoverable, carrying their code, and leaves outages retryable', () => {
    const refused = toWorkerError(new AppError('IMAGE_UNDECODABLE', 'bad data'));
    expect(refused).toBeInstanceOf(UnrecoverableError);
    expect(decodeJobFailure(refused.message)?.code).toBe('IMAGE_UNDECODABLE');
    const outage = toWorkerError(new AppError('BACKEND_UNAVAILABLE', 'S3 down'));
    expect(outage).not.toBeInstanceOf(UnrecoverableError);
    expect(decodeJobFailure(outage.message)?.code).toBe('BACKEND_UNAVAILABLE');
    const unknown = new TypeError('bug');
    expect(toWorkerError(unknown)).toBe(unknown);
    expect(toWorkerError('text')).toEqual(new Error('text'));
  });
});

describe("recognising BullMQ's outcomes", () => {
  it('does not take a refusal that mentions a timeout or a stall for one', () => {
    const refusal = encodeJobFailure(new AppError('IMAGE_UNDECODABLE', 'Job wait x timed out before finishing, no finish notification arrived after 5ms (id=1)'));
    expect(isWaitTimeout(new Error(refusal))).toBe(false);
    expect(isWaitTimeout('Job wait x timed out before finishing, no finish notification arrived after 5ms (id=1)')).toBe(false);
    expect(failedByStalling(encodeJobFailure(new AppError('INTERNAL', 'job stalled more than allowable limit')))).toBe(false);
    expect(failedByStalling('')).toBe(false);
  });
});
