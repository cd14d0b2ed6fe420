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

export function isMongoUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_ERROR_NAMES.has(error.name) || UNAVAILABLE_ERROR_TYPES.some((type) => error instanceof type)) return true;
  // With command buffering off, mongoose refuses commands while disconnected with a plain MongooseError.
  return error.name === 'MongooseError' && /initial connection|not connected|client was closed/i.test(error.message);
}

export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/** Runs a MongoDB call, turning an outage into a retryable `BACKEND_UNAVAILABLE`. */
export async function callMongo<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isMongoUnavailable(error)) {
      throw new AppError('BACKEND_UNAVAILABLE', `MongoDB is unavailable (${operation})`, { cause: error });
    }
    throw error;
  }
}
