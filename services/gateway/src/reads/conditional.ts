/**
 * Whether an `If-None-Match` header matches `etag` (weak comparison, RFC 9110 §13.1.2):
 * `*` matches, and so does any listed tag equal to ours with or without `W/`.
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const trimmed = header.trim();
  if (trimmed === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return trimmed.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
}

/** Whether an `If-Modified-Since` date is at or after `lastModified` (to the second). */
export function notModifiedSince(header: string | undefined, lastModified: Date): boolean {
  if (header === undefined) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
}

/**
 * Whether a range request may be served as a range: without `If-Range`, yes; with it, only
 * when it names our strong ETag (a date is accepted only when it equals Last-Modified).
 */
export function ifRangeAllows(header: string | undefined, etag: string, lastModified: Date): boolean {
  if (header === undefined) return true;
  const trimmed = header.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) return trimmed === etag;
  const date = Date.parse(trimmed);
  return !Number.isNaN(date) && Math.floor(date / 1000) === Math.floor(lastModified.getTime() / 1000);
}
