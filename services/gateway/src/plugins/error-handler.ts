import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorBody, type ErrorCode } from '@imagehost/errors';

/** fastify's own 4xx errors (body parsing, content type…), mapped onto the contract's codes. */
function fromFastifyError(error: FastifyError): AppError | undefined {
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

/**
 * One JSON shape for every error: `{statusCode, error, code, message}`. Deliberate refusals
 * keep their message; anything unexpected is logged and becomes a generic 500.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance, options: { onUploadRefused: (code: ErrorCode) => void }) => {
    app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
      const known = error instanceof AppError ? error : fromFastifyError(error);
      const appError = known ?? new AppError('INTERNAL', 'internal error');
      if (request.method === 'POST' || request.method === 'PATCH') options.onUploadRefused(appError.code);
      if (known === undefined || appError.statusCode >= 500) {
        request.log.error({ err: error, code: appError.code }, 'request failed');
      }
      // The body was not read to its end (an early refusal): close the connection once the
      // answer is out, rather than let Node read and discard whatever the client still sends
      // (at upload sizes that is megabytes of garbage per refused client).
      if (!request.raw.complete) {
        void reply.header('connection', 'close');
        reply.raw.once('finish', () => request.raw.socket.destroy());
      }
      return sendError(reply, appError);
    });
    app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0] ?? ''}`.slice(0, 200))));
  },
  { name: 'error-handler' },
);
