import mongoose from 'mongoose';
import { AppError } from '@imagehost/errors';

// Errors that mean "MongoDB cannot be reached right now", as opposed to a refused operation.
const UNAVAILABLE_ERROR_NAMES = new Set([
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoWaitQueueTimeoutError',
]);

// By class too: the driver's subclasses (a pool cleared after a network error, a socket
// timeout) carry names of their own.
const UNAVAILABLE_ERROR_TYPES = [
  mongoose.mongo.MongoNetworkError,
  mongoose.mongo.MongoServerSelectionError,
  mongoose.mongo.MongoNotConnectedError,
  mongoose.mongo.MongoTopologyClosedError,
];

// A socket reset while the driver writes a command reaches the caller as Node's own error,
// not wrapped in a MongoNetworkError (seen with a server that resets every connection).
const SOCKET_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export function isMongoUnavailable(error: unknown): boolean {
  // Node's own errors may come from another realm (a test sandbox), so no `instanceof Error`.
  if (typeof error !== 'object' || error === null) return false;
  if (SOCKET_ERROR_CODES.has(String((error as NodeJS.ErrnoException).code))) return true;
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_ERROR_NAMES.has(error.name) || UNAVAILABLE_ERROR_TYPES.some((type) => error instanceof type)) return true;
  // With command buffering off, mongoose refuses commands while disconnected with a plain MongooseError.
  return error.name === 'MongooseError' && /initial connection|not connected|client was closed/i.test(error.message);
}

export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/** A `create` of a collection that exists already (a replica starting beside this one made it). */
export function isNamespaceExistsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  // MongoDB's NamespaceExists; other MongoDB-protocol servers may only say it in words.
  return (error as { code?: unknown }).code === 48 || (error instanceof Error && /already exists/i.test(error.message));
}

/** Told of every call: its operation, how it ended (`unavailable`: an outage) and how long it took. */
export type MongoCallObserver = (operation: string, outcome: 'ok' | 'error' | 'unavailable', seconds: number) => void;

/** Runs a MongoDB call, turning an outage into a retryable `BACKEND_UNAVAILABLE`. */
export async function callMongo<T>(operation: string, call: () => Promise<T>, observe?: MongoCallObserver): Promise<T> {
  const started = performance.now();
  try {
    const result = await call();
    observe?.(operation, 'ok', (performance.now() - started) / 1000);
    return result;
  } catch (error) {
    const unavailable = isMongoUnavailable(error);
    observe?.(operation, unavailable ? 'unavailable' : 'error', (performance.now() - started) / 1000);
    if (unavailable) throw new AppError('BACKEND_UNAVAILABLE', `MongoDB is unavailable (${operation})`, { cause: error });
    throw error;
  }
}
