import { describe, expect, it } from '@jest/globals';
import { AppError } from './app-error.js';
import { decodeJobFailure, encodeJobFailure } from './job-failure.js';

describe('job failure encoding', () => {
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
