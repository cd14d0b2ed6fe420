/**
 * The message of whatever was thrown, for a log field or a one-line report: an Error's
 * `message`, anything else as a string (a rejection is not always an Error).
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
