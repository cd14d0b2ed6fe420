import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

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
// many clients send the bare value, taken when it has no quote, comma or space (a header sent
// twice arrives joined by a comma, so it is refused). Lengths count the key, not the quoting.
const SF_STRING_CHARACTER = '(?:[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\["\\\\])';
const BARE_CHARACTER = '[\\x21\\x23-\\x2B\\x2D-\\x7E]';
const LENGTH = `{${IDEMPOTENCY_KEY_MIN_LENGTH},${IDEMPOTENCY_KEY_MAX_LENGTH}}`;

/**
 * A valid header value, as a JSON Schema pattern (ECMAScript, valid with the `u` flag): the
 * route schema refuses any other value before the handler runs.
 */
export const IDEMPOTENCY_KEY_PATTERN = `^(?:"${SF_STRING_CHARACTER}${LENGTH}"|${BARE_CHARACTER}${LENGTH})$`;

/** What `IDEMPOTENCY_KEY_PATTERN` asks for, in words. */
export const IDEMPOTENCY_KEY_RULE =
  `${IDEMPOTENCY_KEY_MIN_LENGTH} to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters of printable ASCII, quoted ("…") or bare without quotes, commas or spaces: ` +
  'send a random one, such as a UUID';

/** The key in a header that matches `IDEMPOTENCY_KEY_PATTERN` (the route schema checked it), `undefined` when none was sent. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined || !header.startsWith('"')) return header;
  return header.slice(1, -1).replace(/\\(["\\])/g, '$1');
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
