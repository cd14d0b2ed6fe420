import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '@imagehost/errors';

export interface CorsOptions {
  /** Origins whose pages may POST, PATCH and DELETE; `*` for any. Every origin may GET and HEAD. */
  readonly writeOrigins: '*' | readonly string[];
  /** The gateway's own origin when PUBLIC_BASE_URL names it; else the request's scheme and host. */
  readonly publicBaseUrl: string | undefined;
}

const READ_METHODS = ['GET', 'HEAD'];
const ALL_METHODS = [...READ_METHODS, 'POST', 'PATCH', 'DELETE'];

/** What a page may send besides the CORS-safelisted headers. */
const ALLOWED_HEADERS = ['Content-Type', 'X-Update-Key', 'X-Delete-Key', 'Idempotency-Key', 'If-None-Match', 'If-Modified-Since', 'If-Range', 'Range', 'X-Request-Id'];

/** What a page may read besides the CORS-safelisted headers: validators, limits, and where a new image is. */
const EXPOSED_HEADERS = [
  'ETag',
  'Content-Length',
  'Content-Range',
  'Accept-Ranges',
  'Location',
  'Retry-After',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
  'X-Request-Id',
  // Set on a POST answered again for a retried Idempotency-Key.
  'Idempotent-Replayed',
];

/** Browsers cache a preflight answer this long (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

const shared = {
  allowedHeaders: ALLOWED_HEADERS,
  exposedHeaders: EXPOSED_HEADERS,
  maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  // The API takes capability keys, never cookies: no credentials, so `*` is allowed.
  credentials: false,
  // An OPTIONS without Origin gets the same 204 instead of a plain-text 400.
  strictPreflight: false,
} satisfies FastifyCorsOptions;

/** The method a request is about: a preflight's announced one, else its own. */
function intendedMethod(request: FastifyRequest): string {
  const announced = request.headers['access-control-request-method'];
  return request.method === 'OPTIONS' && typeof announced === 'string' ? announced.toUpperCase() : request.method;
}

/**
 * CORS through `@fastify/cors`, answered in its `onRequest` hook: a preflight never reaches
 * a route, a rate limit or a backend, and every other answer (errors included) carries the
 * headers, since this plugin is registered before any hook that can refuse. Reads are open
 * to every origin; writes to the configured ones, and a write from another page is refused
 * before its body is read, so nothing is stored for a page that could not read the keys.
 */
export const corsPlugin = fp(
  async (app: FastifyInstance, options: CorsOptions) => {
    const { writeOrigins } = options;
    if (writeOrigins === '*') {
      // One answer for every origin: no `Vary: Origin`, so shared caches keep one copy per image.
      await app.register(cors, { ...shared, origin: '*', methods: ALL_METHODS });
      return;
    }
    const ownOrigin = (request: FastifyRequest) => (options.publicBaseUrl === undefined ? `${request.protocol}://${request.host}` : new URL(options.publicBaseUrl).origin);
    const mayWrite = (origin: string | undefined, request: FastifyRequest) => origin === undefined || origin === ownOrigin(request) || writeOrigins.includes(origin);
    await app.register(cors, {
      delegator: (request, callback) => {
        const reading = READ_METHODS.includes(intendedMethod(request));
        // A listed origin is echoed back (with `Vary: Origin`); any other gets no Allow-Origin.
        const writing = !reading && mayWrite(request.headers.origin, request);
        callback(null, { ...shared, origin: reading ? '*' : [...writeOrigins], methods: writing ? ALL_METHODS : READ_METHODS });
      },
    });
    app.addHook('onRequest', async (request) => {
      const method = intendedMethod(request);
      if (request.method === 'OPTIONS' || READ_METHODS.includes(method) || mayWrite(request.headers.origin, request)) return;
      throw new AppError('ORIGIN_NOT_ALLOWED', `pages from ${String(request.headers.origin).slice(0, 100)} may read images but not ${method}; see CORS_ORIGINS`);
    });
  },
  { name: 'imagehost-cors' },
);
