import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that may carry a capability key. Keys never reach a log line: request headers and
 * bodies are redacted wherever a serializer or a careless `log.info(obj)` could put them.
 */
export const REDACTED_PATHS = [
  'req.headers["x-update-key"]',
  'req.headers["x-delete-key"]',
  // It opens a stored answer that holds capability keys.
  'req.headers["idempotency-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers["x-update-key"]',
  'headers["x-delete-key"]',
  'headers["idempotency-key"]',
  'headers.authorization',
  'delete_key',
  'update_key',
  'deleteKey',
  'updateKey',
  '*.delete_key',
  '*.update_key',
  '*.deleteKey',
  '*.updateKey',
];

/** Options for a service's JSON logger (also what fastify's `logger` option takes). */
export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(service: string, level: string): Logger {
  return pino(loggerOptions(service, level));
}
