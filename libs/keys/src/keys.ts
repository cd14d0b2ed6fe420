import { createHash, randomBytes } from 'node:crypto';
import { customAlphabet } from 'nanoid';

// nanoid's URL-safe alphabet: 64 symbols, 6 bits each.
const URL_SAFE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-';

/** Length of an `image_key`: 16 symbols carry 96 bits, above the contract's 90. */
export const IMAGE_KEY_LENGTH = 16;
/** Length of a version id, unique within one image (and, at 96 bits, across all). */
export const VERSION_ID_LENGTH = 16;
/** Random bytes in a delete or update key: 256 bits, above the contract's 128. */
export const CAPABILITY_KEY_BYTES = 32;
/** base64url length of CAPABILITY_KEY_BYTES. */
export const CAPABILITY_KEY_LENGTH = 43;

/** What `isImageKey` accepts, for schemas that describe an image key (its `source` is a JSON Schema pattern). */
export const IMAGE_KEY_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${IMAGE_KEY_LENGTH}}$`);
const CAPABILITY_KEY_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${CAPABILITY_KEY_LENGTH}}$`);
const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;
const VERSION_ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${VERSION_ID_LENGTH}}$`);

const imageKeyAlphabet = customAlphabet(URL_SAFE_ALPHABET, IMAGE_KEY_LENGTH);
const versionIdAlphabet = customAlphabet(URL_SAFE_ALPHABET, VERSION_ID_LENGTH);

export function generateImageKey(): string {
  return imageKeyAlphabet();
}

export function generateVersionId(): string {
  return versionIdAlphabet();
}

/** A fresh delete or update key; only its hash is ever stored. */
export function generateCapabilityKey(): string {
  return randomBytes(CAPABILITY_KEY_BYTES).toString('base64url');
}

/**
 * The stored form of a capability key. A plain SHA-256 suffices (no salt, no slow hash):
 * the keys are 256 random bits, so there is nothing to guess or precompute.
 */
export function hashCapabilityKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function isImageKey(value: unknown): value is string {
  return typeof value === 'string' && IMAGE_KEY_PATTERN.test(value);
}

/** Whether `value` has the shape of a key this service hands out (cheap check before hashing). */
export function isCapabilityKey(value: unknown): value is string {
  return typeof value === 'string' && CAPABILITY_KEY_PATTERN.test(value);
}

export function isVersionId(value: unknown): value is string {
  return typeof value === 'string' && VERSION_ID_PATTERN.test(value);
}

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX_PATTERN.test(value);
}

/** Random symbols after a report id's time prefix: 72 bits, so ids made in one millisecond differ. */
const REPORT_ID_RANDOM_LENGTH = 12;
/** Base-36 milliseconds since the epoch, padded: sorts by time until the year 5188. */
const REPORT_ID_TIME_LENGTH = 9;
const REPORT_ID_PATTERN = new RegExp(`^[0-9a-z]{${REPORT_ID_TIME_LENGTH}}[A-Za-z0-9_-]{${REPORT_ID_RANDOM_LENGTH}}$`);
const reportIdRandom = customAlphabet(URL_SAFE_ALPHABET, REPORT_ID_RANDOM_LENGTH);

/**
 * The id of an abuse report made at `atMs`: its creation time first, so ids sort oldest first
 * and the moderation queue pages by id alone.
 */
export function generateReportId(atMs: number): string {
  return atMs.toString(36).padStart(REPORT_ID_TIME_LENGTH, '0') + reportIdRandom();
}

export function isReportId(value: unknown): value is string {
  return typeof value === 'string' && REPORT_ID_PATTERN.test(value);
}

/**
 * Who made a report, as stored: a hash of the client address, enough to keep one open report
 * per client and image without keeping the address itself.
 */
export function hashReporter(clientAddress: string): string {
  return createHash('sha256').update(`report:${clientAddress}`, 'utf8').digest('hex');
}
