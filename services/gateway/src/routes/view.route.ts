import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@imagehost/errors';
import type { ImageRecord, ImageRepository } from '@imagehost/db';
import type { GatewayMetrics } from '../metrics.js';
import type { ObjectStore } from '@imagehost/storage';
import { ifNoneMatchMatches, ifRangeAllows, notModifiedSince } from '../reads/conditional.js';
import { parseRange } from '../reads/range.js';
import { findLiveImage, imageNotFound } from './capability.js';
import type { VersionCache } from '../reads/version-cache.js';
import { ANY_ROUTE_RESPONSES, IMAGE_KEY_PARAMS, TAKEN_DOWN_RESPONSE, errorResponse } from './schemas.js';

export interface ViewDeps {
  readonly metrics: GatewayMetrics;
  readonly cache: VersionCache;
  /** Live records, read fresh for every request (concurrent requests share batched reads). */
  readonly records: Pick<ImageRepository, 'findLive'>;
  readonly objects: Pick<ObjectStore, 'readObject' | 'openObject'>;
}

// Images may change (PATCH) or vanish (DELETE) at any moment under the same URL, so caches
// must revalidate every time; the strong ETag makes that a cheap 304.
const CACHE_CONTROL = 'public, no-cache';
// An image is never a document: no script, no style, no plugin, even if a browser is
// talked into rendering a polyglot file as one.
const CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox";

const representationHeaders = {
  ETag: { type: 'string', description: 'strong; the SHA-256 of the bytes' },
  'Last-Modified': { type: 'string' },
  'Cache-Control': { type: 'string', const: CACHE_CONTROL },
  'X-Content-Type-Options': { type: 'string', const: 'nosniff' },
  'Content-Security-Policy': { type: 'string', const: CONTENT_SECURITY_POLICY },
  'Cross-Origin-Resource-Policy': { type: 'string', const: 'cross-origin' },
  'Accept-Ranges': { type: 'string', const: 'bytes' },
} as const;
const imageBytes = { 'image/jpeg': { schema: { type: 'string', format: 'binary' } }, 'image/png': { schema: { type: 'string', format: 'binary' } } } as const;

function viewSchema(withBody: boolean) {
  return {
    summary: withBody ? 'View an image' : 'The headers of GET, without the body',
    params: IMAGE_KEY_PARAMS,
    headers: {
      type: 'object',
      properties: {
        Range: { type: 'string', description: 'one byte range (bytes=first-last, first- or -suffix); others are ignored' },
        'If-Range': { type: 'string' },
        'If-None-Match': { type: 'string' },
        'If-Modified-Since': { type: 'string' },
      },
    },
    response: {
      200: {
        description: withBody ? 'The stored bytes' : 'As GET, without the body',
        headers: { ...representationHeaders, 'Content-Length': { type: 'integer' } },
        ...(withBody ? { content: imageBytes } : { type: 'null' }),
      },
      206: {
        description: 'The requested byte range',
        headers: { ...representationHeaders, 'Content-Length': { type: 'integer' }, 'Content-Range': { type: 'string' } },
        ...(withBody ? { content: imageBytes } : { type: 'null' }),
      },
      304: { description: 'Not modified (If-None-Match, or If-Modified-Since without it)', headers: representationHeaders, type: 'null' },
      ...ANY_ROUTE_RESPONSES,
      404: errorResponse('Unknown, deleted, malformed or absurdly long key'),
      451: TAKEN_DOWN_RESPONSE,
      416: errorResponse('The range lies wholly outside the image', { 'Content-Range': { type: 'string', description: 'bytes */size' } }),
      503: errorResponse('A backend is unavailable'),
    },
  };
}

function etagOf(record: ImageRecord): string {
  return `"${record.sha256}"`;
}

function setRepresentationHeaders(reply: FastifyReply, record: ImageRecord): void {
  void reply.headers({
    etag: etagOf(record),
    'last-modified': record.updatedAt.toUTCString(),
    'cache-control': CACHE_CONTROL,
    'x-content-type-options': 'nosniff',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'cross-origin-resource-policy': 'cross-origin',
    'accept-ranges': 'bytes',
  });
}

/** `GET /:imageKey` and `HEAD /:imageKey`: the current version's exact bytes. */
export async function viewRoutes(app: FastifyInstance, deps: ViewDeps): Promise<void> {
  const serve = async (
    request: FastifyRequest<{ Params: { imageKey: string } }>,
    reply: FastifyReply,
    withBody: boolean,
    isRetry = false,
  ): Promise<FastifyReply> => {
    const record = await findLiveImage(deps.records, request.params.imageKey);
    setRepresentationHeaders(reply, record);

    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch !== undefined ? ifNoneMatchMatches(ifNoneMatch, etagOf(record)) : notModifiedSince(request.headers['if-modified-since'], record.updatedAt)) {
      return reply.status(304).send();
    }

    const ifRange = request.headers['if-range'];
    const rangeOutcome = ifRangeAllows(Array.isArray(ifRange) ? ifRange[0] : ifRange, etagOf(record), record.updatedAt)
      ? parseRange(request.headers.range, record.bytes)
      : { kind: 'none' as const };
    if (rangeOutcome.kind === 'unsatisfiable') {
      void reply.header('content-range', `bytes */${record.bytes}`);
      throw new AppError('RANGE_NOT_SATISFIABLE', `the image has ${record.bytes} bytes`);
    }
    const range = rangeOutcome.kind === 'range' ? rangeOutcome.range : undefined;
    const length = range === undefined ? record.bytes : range.end - range.start + 1;

    void reply.type(record.contentType).header('content-length', String(length));
    if (range !== undefined) {
      void reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${record.bytes}`);
    }
    if (!withBody) return reply.send();

    // Small versions read often come whole from the cache; the rest stream from S3.
    const { cache, objects } = deps;
    const cacheable = cache.accepts(record.bytes);
    const whole =
      (cacheable ? cache.get(record.objectKey) : undefined) ??
      (cacheable && cache.admits(record.objectKey, record.bytes)
        ? await cache.getOrLoad(record.objectKey, () => objects.readObject(record.objectKey, record.bytes))
        : undefined);
    const body =
      whole !== undefined
        ? whole.subarray(range?.start ?? 0, (range?.end ?? record.bytes - 1) + 1)
        : await objects.openObject(record.objectKey, range === undefined ? undefined : { offset: range.start, length });
    if (body === undefined) {
      // The version was superseded and reaped between the lookup and the read: look the
      // record up once more and serve what it says now.
      if (isRetry) throw imageNotFound();
      void reply.status(200);
      return serve(request, reply, withBody, true);
    }
    if (Buffer.isBuffer(body)) deps.metrics.servedBytes.inc(length);
    else body.on('end', () => deps.metrics.servedBytes.inc(length));
    return reply.send(body);
  };

  app.get<{ Params: { imageKey: string } }>('/:imageKey', { schema: viewSchema(true) }, (request, reply) => serve(request, reply, true));
  app.head<{ Params: { imageKey: string } }>('/:imageKey', { schema: viewSchema(false) }, (request, reply) => serve(request, reply, false));
}
