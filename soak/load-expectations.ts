import type { Reply } from './load-client.js';

// What the contract allows each of the soak's requests to be answered.

/** What a response may be: status → the error `code` it must carry (undefined: a success). */
export type Allowed = ReadonlyMap<number, string | undefined>;

export const ok = (...statuses: number[]): Map<number, string | undefined> => new Map(statuses.map((status) => [status, undefined]));
export const refusal = (status: number, code: string): Allowed => new Map([[status, code]]);

/**
 * How a request may be shed while it overlaps the spike: `overload`, a 503 because the
 * gateway's upload memory is spent (any upload whose body the gateway reads); `rateLimit`, a
 * 429 from the per-client limits, which only the flood's few addresses can reach.
 */
export interface Shedding {
  readonly overload: boolean;
  readonly rateLimit: boolean;
}
export const SHED_UPLOAD: Shedding = { overload: true, rateLimit: true };
export const SHED_BEFORE_BODY: Shedding = { overload: false, rateLimit: true };
export const SHED_NOTHING: Shedding = { overload: false, rateLimit: false };

export interface Checked {
  /** Undefined when no answer came. */
  readonly reply: Reply | undefined;
  /** The answer was one of those allowed, and well formed. */
  readonly expected: boolean;
}
