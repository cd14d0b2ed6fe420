import { LIFETIME_CEILING_SECONDS } from '@imagehost/config';
import { AppError } from '@imagehost/errors';

/** The form field that asks for an image's lifetime, in seconds. */
export const EXPIRES_IN = 'expires_in';

/** What the operator allows (MAX_IMAGE_LIFETIME) and gives by default (DEFAULT_IMAGE_LIFETIME), in seconds. */
export interface LifetimePolicy {
  /** `undefined`: no cap, and `expires_in=0` (never) is allowed. */
  readonly maxSeconds: number | undefined;
  /** What an upload that asks nothing gets; `undefined`: kept until deleted. */
  readonly defaultSeconds: number | undefined;
}

/** The schema of `expires_in`, for the routes' OpenAPI description. */
export const EXPIRES_IN_SCHEMA = {
  type: 'integer',
  minimum: 0,
  maximum: LIFETIME_CEILING_SECONDS,
  description:
    'seconds the image lives from this upload (0: never, only where MAX_IMAGE_LIFETIME is unset); more than MAX_IMAGE_LIFETIME is 400 EXPIRES_IN_TOO_LONG. A form field, before or after the file. Absent: DEFAULT_IMAGE_LIFETIME (else MAX_IMAGE_LIFETIME, else never) on POST; the current expiry on PATCH',
} as const;

const SECONDS = /^\d{1,12}$/;

function parsed(value: unknown): number {
  if (typeof value !== 'string' || !SECONDS.test(value)) throw new AppError('INVALID_EXPIRES_IN', `${EXPIRES_IN} must be a whole number of seconds`);
  return Number(value);
}

/** The lifetime the form asks for; `undefined` when it asks none. */
export function requestedSeconds(field: string | undefined): number | undefined {
  return field === undefined ? undefined : parsed(field);
}

/**
 * When an image expires (ms since the epoch, `null` for never), given the seconds asked for
 * (`undefined`: none), `nowMs`, and what it gets when nothing is asked (`kept`: a replacement
 * keeps the image's expiry; a new image gets the default). A lifetime over the cap is refused
 * rather than shortened: the uploader must know when the image goes.
 */
export function expiryOf(requested: number | undefined, policy: LifetimePolicy, nowMs: number, kept?: Date | null): number | null {
  if (requested === undefined) {
    if (kept !== undefined) return kept === null ? null : kept.getTime();
    return policy.defaultSeconds === undefined ? null : nowMs + policy.defaultSeconds * 1000;
  }
  const max = policy.maxSeconds ?? LIFETIME_CEILING_SECONDS;
  if (requested > max || (requested === 0 && policy.maxSeconds !== undefined)) {
    throw new AppError('EXPIRES_IN_TOO_LONG', `this server keeps an image at most ${max} s: ask for ${EXPIRES_IN} between 1 and ${max}`);
  }
  return requested === 0 ? null : nowMs + requested * 1000;
}

/** `expires_at` as answers carry it: ISO 8601, or `null` for never. */
export function expiresAtField(expiresAt: number | null): string | null {
  return expiresAt === null ? null : new Date(expiresAt).toISOString();
}
