import { describe, expect, it } from '@jest/globals';
import { ifNoneMatchMatches, ifRangeAllows, notModifiedSince } from './conditional.js';

describe('conditional requests', () => {
  const etag = '"abc"';
  const lastModified = new Date('2026-01-02T03:04:05.678Z');

  it('matches If-None-Match weakly, in lists and with *', () => {
    expect(ifNoneMatchMatches('"abc"', etag)).toBe(true);
    expect(ifNoneMatchMatches('W/"abc"', etag)).toBe(true);
    expect(ifNoneMatchMatches('"x", "abc"', etag)).toBe(true);
    expect(ifNoneMatchMatches('*', etag)).toBe(true);
    expect(ifNoneMatchMatches('"abd"', etag)).toBe(false);
    expect(ifNoneMatchMatches(undefined, etag)).toBe(false);
  });

  it('compares If-Modified-Since to the second', () => {
    expect(notModifiedSince(lastModified.toUTCString(), lastModified)).toBe(true);
    expect(notModifiedSince(new Date('2026-01-02T03:04:04Z').toUTCString(), lastModified)).toBe(false);
    expect(notModifiedSince('not a date', lastModified)).toBe(false);
  });

  it('serves a range under If-Range only for our strong ETag or exact date', () => {
    expect(ifRangeAllows(undefined, etag, lastModified)).toBe(true);
    expect(ifRangeAllows('"abc"', etag, lastModified)).toBe(true);
    expect(ifRangeAllows('W/"abc"', etag, lastModified)).toBe(false);
    expect(ifRangeAllows('"old"', etag, lastModified)).toBe(false);
    expect(ifRangeAllows(lastModified.toUTCString(), etag, lastModified)).toBe(true);
    expect(ifRangeAllows('garbage', etag, lastModified)).toBe(false);
  });
});
