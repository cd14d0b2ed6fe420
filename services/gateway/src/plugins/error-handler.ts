import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorBody, type ErrorCode } from '@imagehost/errors';
import { refusalOfInvalidInput } from './validation.js';

/** fastify's own 4xx errors (schema validation, body parsing, content type…), mapped onto the contract's codes. */
function fromFastifyError(error: FastifyError, request: FastifyRequest): AppError | undefined {
  const invalidInput = refusalOfInvalidInput(error, request.routeOptions.config.invalidInputCode);
  if (invalidInput !== undefined) return invalidInput;
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const codeByStatus: Partial<Record<number, ErrorCode>> = {
    404: 'NOT_FOUND',
    413: 'IMAGE_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    429: 'RATE_LIMITED',
  };
  const code = codeByStatus[status] ?? (error.code.startsWith('FST_ERR_CTP') ? 'MALFORMED_BODY' : 'BAD_REQUEST');
  return new AppError(code, error.message);
}

export function errorBody(error: AppError): ErrorBody {
  return { statusCode: error.statusCode, error: STATUS_CODES[error.statusCode] ?? 'Error', code: error.code, message: error.message };
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.status(error.statusCode).type('application/json; charset=utf-8').send(errorBody(error));
}

/** How much of a refused request's body is read and thrown away before its connection closes. */
export interface LingerBounds {
  readonly maxBytes: number;
  readonly maxMs: number;
  /** The longest pause in the body that is waited through. */
  readonly idleMs: number;
  /** Bytes all lingering connections of the process discard together per 100 ms. */
  readonly bytesPer100Ms: number;
}

function bodyFullyRead(raw: IncomingMessage): boolean {
  return raw.complete || raw.readableEnded;
}

/**
 * Paces what every lingering connection discards together: each chunk read is a fresh buffer,
 * and a burst of refused uploads read at full speed raises the heap faster than the collector
 * frees it.
 */
class DiscardPacer {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;

  constructor(private readonly bytesPerWindow: number) {}

  /** Counts `bytes` read now; how many milliseconds to pause before reading more. */
  take(bytes: number): number {
    const now = performance.now();
    if (now - this.windowStart >= PACING_WINDOW_MS) {
      this.windowStart = now;
      this.used = 0;
    }
    this.used += bytes;
    return this.used > this.bytesPerWindow ? this.windowStart + PACING_WINDOW_MS - now : 0;
  }
}

const PACING_WINDOW_MS = 100;

/**
 * Reads and discards the rest of a request body, resolving when it has ended or a bound is
 * reached. A body announced beyond `maxBytes` is not read at all.
 */
function discardRestOfBody(raw: IncomingMessage, bounds: LingerBounds, pacer: DiscardPacer): Promise<void> {
  if (Number(raw.headers['content-length'] ?? 0) > bounds.maxBytes) return Promise.resolve();
  return new Promise((resolve) => {
    let received = 0;
    let paused: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(total);
      clearTimeout(idle);
      clearTimeout(paused);
      raw.off('data', onData).off('end', done).off('close', done).off('error', done);
      resolve();
    };
    const total = setTimeout(done, bounds.maxMs);
    const idle = setTimeout(done, bounds.idleMs);
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > bounds.maxBytes) return done();
      idle.refresh();
      const waitMs = pacer.take(chunk.length);
      if (waitMs <= 0) return;
      raw.pause();
      paused = setTimeout(() => {
        // Time spent paused by the pacer is not the client's silence.
        idle.refresh();
        raw.resume();
      }, waitMs);
    };
    // The multipart parser may still be attached; from here on the bytes go nowhere.
    raw.unpipe();
    raw.on('data', onData).once('end', done).once('close', done).once('error', done);
    raw.resume();
  });
}

/**
 * Answers a request whose body is still arriving so that every client can read the answer:
 * `Connection: close`, the JSON sent at once, and the response ended (which closes the
 * connection) only once the rest of the body is read, up to `bounds`. Closing while the
 * client still sends makes its TCP stack reset the connection, and clients such as Node's
 * `fetch` and browsers then report a network error instead of the answer (nginx's
 * "lingering close").
 */
function sendErrorWithLingeringClose(
  request: FastifyRequest,
  reply: FastifyReply,
  error: AppError,
  bounds: LingerBounds,
  pacer: DiscardPacer,
): FastifyReply {
  const body = JSON.stringify(errorBody(error));
  const out = new PassThrough();
  out.write(body);
  void discardRestOfBody(request.raw, bounds, pacer).then(() => out.end());
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply
    .status(error.statusCode)
    .header('connection', 'close')
    .header('content-length', String(Buffer.byteLength(body)))
    .type('application/json; charset=utf-8')
    .send(out);
}

/**
 * One JSON shape for every error: `{statusCode, error, code, message}`. Deliberate refusals
 * keep their message; anything unexpected is logged and becomes a generic 500.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance, options: { onUploadRefused: (code: ErrorCode) => void; linger: LingerBounds }) => {
    const pacer = new DiscardPacer(options.linger.bytesPer100Ms);
    app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
      const known = error instanceof AppError ? error : fromFastifyError(error, request);
      const appError = known ?? new AppError('INTERNAL', 'internal error');
      if (request.method === 'POST' || request.method === 'PATCH') options.onUploadRefused(appError.code);
      if (known === undefined || appError.statusCode >= 500) {
        request.log.error({ err: error, code: appError.code }, 'request failed');
      }
      if (bodyFullyRead(request.raw)) return sendError(reply, appError);
      // A silent client is not waited for again: answer, and the connection closes after.
      if (appError.code === 'UPLOAD_TIMEOUT') return sendError(reply.header('connection', 'close'), appError);
      return sendErrorWithLingeringClose(request, reply, appError, options.linger, pacer);
    });
    app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0] ?? ''}`.slice(0, 200))));
  },
  { name: 'error-handler' },
);
