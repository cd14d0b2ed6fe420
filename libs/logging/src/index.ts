import { context, isSpanContextValid, trace } from '@opentelemetry/api';
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
    mixin: traceIds,
  };
}

/** The active trace's ids on every line, so logs and traces join (nothing while tracing is off). */
function traceIds(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  return spanContext !== undefined && isSpanContextValid(spanContext) ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {};
}

let stdout: pino.DestinationStream | undefined;

/**
 * Standard output, written asynchronously: lines logged while a write is in flight go out
 * together in the next one, so a busy gateway makes one write for many access lines instead
 * of a blocking write each (bench/decisions.md#asynchronous-log-writes). Flushed on exit.
 */
export function logDestination(): pino.DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: false });
  return stdout;
}

export function createLogger(service: string, level: string): Logger {
  return pino(loggerOptions(service, level), logDestination());
}
