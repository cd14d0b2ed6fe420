import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '@imagehost/errors';

// The IETF httpapi draft's Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): what
// a valid header is, and the secrets derived from it. A stored answer holds capability
// keys, so it is sealed with a key derived from the Idempotency-Key and the file's digest:
// neither is stored, and only a client sending both again can open it.

/** The request header, as Node names it. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Sent with an answer given again to a retry (the name Stripe's API uses). */
export const REPLAYED_HEADER = 'idempotent-replayed';

/**
 * Bounds of a key. The key guards the capability keys in the answer it replays, so a short,
 * guessable one is refused: clients should send a random one (a UUID is 36 characters).
 */
export const IDEMPOTENCY_KEY_MIN_LENGTH = 16;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

// The draft's form is a Structured Field string ("…", printable ASCII, \" and \\ escaped);
// many clients send the bare value, taken when it has no quote, comma or space.
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;
const BARE_VALUE = /^[\x21\x23-\x2b\x2d-\x7e]+$/;

function invalid(why: string): AppError {
  return new AppError('INVALID_IDEMPOTENCY_KEY', `the Idempotency-Key header ${why}`);
}

/** The key the client sent, `undefined` when it sent none; a 400 AppError when the header is not a valid key. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw invalid('is sent more than once');
  const quoted = SF_STRING.exec(header);
  let key: string;
  if (quoted !== null) key = (quoted[1] ?? '').replace(/\\(["\\])/g, '$1');
  else if (BARE_VALUE.test(header)) key = header;
  else if (header.trim() === '') throw invalid('is empty');
  else throw invalid('must be a string of printable ASCII, quoted ("…") or without quotes, commas or spaces');
  if (key === '') throw invalid('is empty');
  if (key.length < IDEMPOTENCY_KEY_MIN_LENGTH) {
    throw invalid(`must be at least ${IDEMPOTENCY_KEY_MIN_LENGTH} characters: send a random one, such as a UUID`);
  }
  if (key.length > IDEMPOTENCY_KEY_MAX_LENGTH) throw invalid(`is longer than ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`);
  return key;
}

/** What a request with an Idempotency-Key is known by. */
export interface IdempotencySecrets {
  /** Names the key's record in Redis: a hash of the key alone, so a retry with other bytes finds it. */
  readonly recordId: string;
  /** Stored beside the answer: tells a retry with the same file from one with another, and gives nothing away. */
  readonly check: string;
  /** Seals the answer; never stored. */
  readonly sealingKey: Buffer;
}

const HKDF_INFO = 'imagehost idempotent upload v1';

/** The record id, the check and the sealing key of (Idempotency-Key, the uploaded file's bytes). */
export function deriveIdempotencySecrets(idempotencyKey: string, fileBytes: Buffer): IdempotencySecrets {
  const digest = createHash('sha256').update(fileBytes).digest();
  const derived = Buffer.from(hkdfSync('sha256', Buffer.from(idempotencyKey, 'utf8'), digest, HKDF_INFO, 64));
  return {
    recordId: createHash('sha256').update(idempotencyKey, 'utf8').digest('hex'),
    check: derived.subarray(32).toString('base64url'),
    sealingKey: derived.subarray(0, 32),
  };
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** `plain` encrypted and authenticated (AES-256-GCM) under `key`, bound to `recordId`; base64url. */
export function seal(key: Buffer, recordId: string, plain: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(recordId, 'utf8'));
  const encrypted = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), encrypted]).toString('base64url');
}

/** What `seal` sealed; throws when the key, the record id or the sealed text do not match. */
export function unseal(key: Buffer, recordId: string, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES)).setAAD(Buffer.from(recordId, 'utf8'));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
