/**
 * Every failure the service reports on purpose, with its HTTP status and whether trying
 * again later can succeed. The codes are part of the public contract (clients match on
 * them); add new ones, never rename.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, retryable: false },
  IMAGE_PART_MISSING: { status: 400, retryable: false },
  TOO_MANY_FILES: { status: 400, retryable: false },
  TOO_MANY_PARTS: { status: 400, retryable: false },
  EMPTY_FILE: { status: 400, retryable: false },
  MALFORMED_MULTIPART: { status: 400, retryable: false },
  MALFORMED_BODY: { status: 400, retryable: false },
  INVALID_FILENAME: { status: 400, retryable: false },
  INVALID_IDEMPOTENCY_KEY: { status: 400, retryable: false },
  INVALID_EXPIRES_IN: { status: 400, retryable: false },
  EXPIRES_IN_TOO_LONG: { status: 400, retryable: false },
  INVALID_REPORT: { status: 400, retryable: false },
  KEY_MISSING: { status: 401, retryable: false },
  ADMIN_TOKEN_MISSING: { status: 401, retryable: false },
  KEY_INVALID: { status: 403, retryable: false },
  ORIGIN_NOT_ALLOWED: { status: 403, retryable: false },
  ADMIN_TOKEN_INVALID: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  IMAGE_NOT_FOUND: { status: 404, retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  UPLOAD_TIMEOUT: { status: 408, retryable: true },
  CONFLICT: { status: 409, retryable: false },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, retryable: true },
  IMAGE_TOO_LARGE: { status: 413, retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  UNSUPPORTED_EXTENSION: { status: 415, retryable: false },
  UNSUPPORTED_IMAGE_TYPE: { status: 415, retryable: false },
  IMAGE_UNDECODABLE: { status: 422, retryable: false },
  IMAGE_TOO_MANY_PIXELS: { status: 422, retryable: false },
  IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  TOO_MANY_UPLOADS_IN_PROGRESS: { status: 429, retryable: true },
  /** An operator took the image down: every method on its key answers this. */
  IMAGE_TAKEN_DOWN: { status: 451, retryable: false },
  /** The upload's bytes match the content blocklist (exactly or perceptually); nothing was stored. */
  CONTENT_BLOCKED: { status: 451, retryable: false },
  INTERNAL: { status: 500, retryable: true },
  OVERLOADED: { status: 503, retryable: true },
  BACKEND_UNAVAILABLE: { status: 503, retryable: true },
  BACKEND_TIMEOUT: { status: 504, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The one error type of the project: a stable `code`, its HTTP status and retryability. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  /** Seconds a client should wait before retrying, sent as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly statusCode: number;
  readonly error: string;
  readonly code: ErrorCode;
  readonly message: string;
}
