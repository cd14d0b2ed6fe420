import { describe, expect, it } from '@jest/globals';
import { errorMessage } from './error-message.js';

describe('errorMessage', () => {
  it('is the message of an Error, of its subclasses too', () => {
    expect(errorMessage(new Error('S3 did not answer'))).toBe('S3 did not answer');
    expect(errorMessage(new RangeError('out of range'))).toBe('out of range');
  });

  it('is anything else thrown, as a string', () => {
    expect(errorMessage('a bare string')).toBe('a bare string');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage({ code: 'ECONNRESET' })).toBe('[object Object]');
  });
});
