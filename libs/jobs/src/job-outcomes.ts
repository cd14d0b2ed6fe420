import { UnrecoverableError } from 'bullmq';
import { AppError, isErrorCode } from '@imagehost/errors';

// The one owner of how a job's outcome crosses Redis. BullMQ keeps only a failed job's
// message (`failedReason`), so a worker's refusal travels as "CODE: message" and is turned
// back into the same AppError by whoever reads it. BullMQ's own English texts are matched
// here and nowhere else; test/job-outcomes.test.ts pins them against the real library.

const SEPARATOR = ': ';

// BullMQ's Job.waitUntilFinished rejects with this when its ttl runs out
// ("Job wait <name> timed out before finishing, no finish notification arrived after <ttl>ms (id=<id>)").
const WAIT_TIMED_OUT = /^Job wait .* timed out before finishing, no finish notification arrived after \d+ms \(id=.*\)$/s;
// The failedReason BullMQ's stalled-job check gives a job that stalled more than `maxStalledCount` times.
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** The `failedReason` text for a refusal. */
export function encodeJobFailure(error: AppError): string {
  return `${error.code}${SEPARATOR}${error.message}`;
}

/** The AppError a job failed with, or `undefined` when the reason is not a coded refusal. */
export function decodeJobFailure(reason: string): AppError | undefined {
  const at = reason.indexOf(SEPARATOR);
  if (at <= 0) return undefined;
  const code = reason.slice(0, at);
  return isErrorCode(code) ? new AppError(code, reason.slice(at + SEPARATOR.length)) : undefined;
}

/**
 * What a job handler's error becomes for BullMQ. A refusal (a non-retryable AppError) is an
 * `UnrecoverableError`, so it fails the job at once instead of being retried; its code
 * travels in the message for the waiting producer. Anything else is retried with backoff.
 */
export function toWorkerError(error: unknown): Error {
  if (error instanceof AppError) {
    return error.retryable ? new Error(encodeJobFailure(error), { cause: error }) : new UnrecoverableError(encodeJobFailure(error));
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Whether `job.waitUntilFinished(events, ttl)` gave up waiting (the job may still finish). */
export function isWaitTimeout(error: unknown): boolean {
  return error instanceof Error && WAIT_TIMED_OUT.test(error.message);
}

/** Whether a job failed because workers lost it (died or hung with it) more often than it may stall. */
export function failedByStalling(failedReason: string): boolean {
  return failedReason === STALLED_TOO_OFTEN;
}
