import { ERROR_CODES } from '@imagehost/errors';
import { IMAGE_KEY_PATTERN } from '@imagehost/keys';
import { IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE } from '../uploads/idempotency-key.js';

// The pieces of route schemas that several routes share. Fastify validates requests and
// serializes JSON responses with them, and @fastify/swagger builds the OpenAPI document from
// them, so the document is what the routes take and send (how a failure of a request schema
// is answered: plugins/validation.ts). Shared schemas are registered once by `$id` (`Error#`…) and appear in
// the document as `#/components/schemas/<id>`.

/** A shared response body: every property required, no other allowed. */
function closedObject<P extends Record<string, unknown>>(id: string, description: string, properties: P) {
  return { $id: id, description, type: 'object', required: Object.keys(properties), additionalProperties: false, properties } as const;
}

const errorSchema = closedObject('Error', 'Every refusal and failure of a route', {
  statusCode: { type: 'integer' },
  error: { type: 'string', description: 'the HTTP reason phrase' },
  code: { type: 'string', enum: Object.keys(ERROR_CODES), description: 'stable, machine-readable' },
  message: { type: 'string' },
});

// Sent by the HTTP server itself (fastify's client error handler, without a code), or by an
// upload whose body went silent (with the code UPLOAD_TIMEOUT).
const clientTimeoutSchema = {
  ...closedObject('ClientTimeout', 'The request did not arrive in time', {
    statusCode: { type: 'integer', const: 408 },
    error: errorSchema.properties.error,
    code: { type: 'string', const: 'UPLOAD_TIMEOUT' },
    message: errorSchema.properties.message,
  }),
  required: ['statusCode', 'error', 'message'],
} as const;

const contentType = { type: 'string', enum: ['image/jpeg', 'image/png'], description: 'from the bytes, not from the filename' } as const;
/** What every accepted upload or replacement hands back. */
const issuedKeys = {
  image_key: { type: 'string' },
  delete_key: { type: 'string', description: 'shown once; only its hash is stored' },
  update_key: { type: 'string', description: 'shown once; only its hash is stored' },
  url: { type: 'string' },
} as const;

const METADATA_BYTES_REMOVED = {
  type: 'integer',
  minimum: 0,
  description: 'bytes of identifying metadata (EXIF, XMP, IPTC, comments, PNG text) removed before storing, pixels untouched; 0 when STRIP_METADATA is off',
} as const;

const EXPIRES_AT = {
  type: ['string', 'null'],
  format: 'date-time',
  description: 'when the image expires (ISO 8601): from then on every method on it is 404 and the reaper purges it; null for never',
} as const;

const storedImageSchema = closedObject('StoredImage', 'The image is stored and readable at once', {
  ...issuedKeys,
  content_type: contentType,
  width: { type: 'integer' },
  height: { type: 'integer' },
  bytes: { type: 'integer', description: 'the size of the stored (and served) file' },
  metadata_bytes_removed: METADATA_BYTES_REMOVED,
  expires_at: EXPIRES_AT,
});

const acceptedImageSchema = closedObject('AcceptedImage', 'Accepted; it becomes readable once ingested (or is refused then)', {
  ...issuedKeys,
  status: { type: 'string', const: 'processing' },
  content_type: contentType,
  bytes: { type: 'integer', description: 'the size of the stored (and served) file' },
  metadata_bytes_removed: METADATA_BYTES_REMOVED,
  expires_at: EXPIRES_AT,
});

/** Registered with `addSchema` before any route. */
export const SHARED_SCHEMAS = [errorSchema, clientTimeoutSchema, storedImageSchema, acceptedImageSchema] as const;

/** A response in the shared error shape. */
export function errorResponse(description: string, headers?: Record<string, unknown>) {
  return { description, ...(headers === undefined ? {} : { headers }), $ref: 'Error#' } as const;
}

const retryAfter = { 'Retry-After': { type: 'integer', description: 'seconds' } } as const;

/** Sent with every 429: when to retry, and the rule that was hit. */
export const RATE_LIMIT_HEADERS = {
  ...retryAfter,
  'RateLimit-Limit': { type: 'integer' },
  'RateLimit-Remaining': { type: 'integer' },
  'RateLimit-Reset': { type: 'integer', description: 'seconds' },
  'RateLimit-Policy': { type: 'string', description: 'limit;w=window in seconds' },
} as const;

/** What any route may answer whatever its handler does. */
export const ANY_ROUTE_RESPONSES = {
  408: { description: 'The request did not arrive within the server’s time limits', $ref: 'ClientTimeout#' },
  500: errorResponse('An unexpected failure (logged)'),
} as const;

const ORIGIN_REFUSED = 'A page from an origin not in CORS_ORIGINS (ORIGIN_NOT_ALLOWED), before the body is read';

/**
 * What POST and PATCH answer about the upload itself, its limits, and the backends it needs.
 * A refusal sent before the body is read comes with `Connection: close` once the rest of the
 * body is read and discarded (up to twice MAX_UPLOAD_BYTES, 30 s).
 */
export const UPLOAD_RESPONSES = {
  ...ANY_ROUTE_RESPONSES,
  408: {
    description: 'The request did not arrive within the server’s time limits, or the upload body sent nothing for UPLOAD_IDLE_TIMEOUT_MS (code UPLOAD_TIMEOUT)',
    $ref: 'ClientTimeout#',
  },
  400: errorResponse(
    'No image part, a file under another name, several files, an empty file, a bad filename, malformed multipart, or an expires_in that is not whole seconds (INVALID_EXPIRES_IN) or over MAX_IMAGE_LIFETIME (EXPIRES_IN_TOO_LONG)',
  ),
  403: errorResponse(ORIGIN_REFUSED),
  413: errorResponse('Larger than MAX_UPLOAD_BYTES'),
  415: errorResponse('Not multipart, an extension other than jpg/jpeg/png, or bytes that are neither JPEG nor PNG'),
  422: errorResponse('A JPEG/PNG that does not decode, whose metadata is malformed, or has more than MAX_IMAGE_PIXELS pixels'),
  429: errorResponse(
    'Too many uploads from this client: per minute (RATE_LIMITED), or in progress at once (TOO_MANY_UPLOADS_IN_PROGRESS, Retry-After only)',
    RATE_LIMIT_HEADERS,
  ),
  451: errorResponse('The bytes or the picture match content an operator took down (CONTENT_BLOCKED): nothing was stored'),
  503: errorResponse('Too many uploads in flight, or a backend is unavailable: nothing was stored', retryAfter),
} as const;

/** Every method on an image an operator took down answers this, whatever key it carries. */
export const TAKEN_DOWN_RESPONSE = errorResponse('An operator took the image down (IMAGE_TAKEN_DOWN); its keys no longer work');

/** The key given to PATCH and DELETE: its absence, its mismatch, and the limit on failed keys. */
export const KEY_RESPONSES = {
  401: errorResponse('No key'),
  403: errorResponse(`The key does not match this image (KEY_INVALID), or ${ORIGIN_REFUSED.charAt(0).toLowerCase()}${ORIGIN_REFUSED.slice(1)}; nothing changed`),
  404: errorResponse('Unknown, deleted or malformed image key'),
  429: errorResponse('Too many refused keys from this client', RATE_LIMIT_HEADERS),
  451: TAKEN_DOWN_RESPONSE,
} as const;

/**
 * The image key in the path (the contract's `image_key`; the route and its metrics say
 * `imageKey`). One that does not match is an unknown image: 404, before any backend is asked.
 */
export const IMAGE_KEY_PARAMS = {
  type: 'object',
  required: ['imageKey'],
  properties: {
    imageKey: {
      type: 'string',
      pattern: IMAGE_KEY_PATTERN.source,
      description: 'the image_key returned at upload: 16 characters of A-Z, a-z, 0-9, _ and -; any other path segment is an unknown image (404)',
    },
  },
} as const;

/** Headers of an answer that carries keys: where the image is, and that it must not be cached. */
export const KEYS_HEADERS = {
  Location: { type: 'string', description: '/{imageKey}' },
  'Cache-Control': { type: 'string', const: 'no-store' },
} as const;

/** The IETF httpapi draft's header, on POST. */
export const IDEMPOTENCY_HEADERS = {
  type: 'object',
  properties: {
    'Idempotency-Key': {
      type: 'string',
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description: `${IDEMPOTENCY_KEY_RULE}; anything else is 400 INVALID_IDEMPOTENCY_KEY. A retry with the same key and the same file within IDEMPOTENCY_TTL_MS gets the first answer again, and creates nothing`,
    },
  },
} as const;

/** A `multipart/form-data` request body; the handler reads it as a stream. */
export function multipartRequestBody(properties: Record<string, unknown>, description: string) {
  return {
    content: {
      'multipart/form-data': {
        schema: { type: 'object', description, required: ['image'], properties },
      },
    },
  } as const;
}

/** The file part of POST and PATCH. */
export const IMAGE_PART = {
  type: 'string',
  format: 'binary',
  // The handler refuses an empty file (EMPTY_FILE). That the bytes must be a JPEG or PNG is
  // in words only: no schema keyword checks a file's contents.
  minLength: 1,
  description: 'a JPEG or PNG, not empty; the filename extension, when given, is jpg, jpeg or png (any case)',
} as const;
