import { AppError, isErrorCode } from './app-error.js';

// BullMQ keeps only a failed job's message (`failedReason`), so a worker's refusal travels
// to the waiting gateway as "CODE: message" and is turned back into the same AppError there.
const SEPARATOR = ': ';

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
