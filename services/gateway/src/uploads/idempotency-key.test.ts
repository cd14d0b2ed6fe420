import { describe, expect, it } from '@jest/globals';
import { AppError } from '@imagehost/errors';
import { deriveIdempotencySecrets, parseIdempotencyKey, seal, unseal } from './idempotency-key.js';

const UUID = '8e03978e-40d5-43e8-bc93-6894a57f9324';

function refusalOf(header: string | string[]): string {
  try {
    return `accepted ${parseIdempotencyKey(header)}`;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return `${error.statusCode} ${error.code}`;
  }
}

describe('parseIdempotencyKey', () => {
  it('takes the draft form (a quoted Structured Field string) and a bare value', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey(`"${UUID}"`)).toBe(UUID);
    expect(parseIdempotencyKey(UUID)).toBe(UUID);
    expect(parseIdempotencyKey('"a key with \\"quotes\\" and spaces"')).toBe('a key with "quotes" and spaces');
    expect(parseIdempotencyKey('x'.repeat(255))).toBe('x'.repeat(255));
  });

  it('refuses an empty, short, long or unreadable key with 400', () => {
    const cases: (string | string[])[] = [
      '',
      '   ',
      '""',
      'short-key',
      'x'.repeat(256),
      `"${'x'.repeat(256)}"`,
      `${UUID}, ${UUID}`, // sent twice: Node joins the lines with a comma
      [UUID, UUID],
      `"${UUID}`,
      `a key with spaces ${UUID}`,
      `"${UUID}\u00e9"`,
    ];
    for (const header of cases) expect([header, refusalOf(header)]).toEqual([header, '400 INVALID_IDEMPOTENCY_KEY']);
  });
});

describe('deriveIdempotencySecrets', () => {
  const file = Buffer.from('the bytes of a photo');

  it('names the record by the key alone, and checks and seals by the key and the file', () => {
    const secrets = deriveIdempotencySecrets(UUID, file);
    expect(deriveIdempotencySecrets(UUID, Buffer.from(file))).toEqual(secrets);
    const otherFile = deriveIdempotencySecrets(UUID, Buffer.from('other bytes'));
    expect(otherFile.recordId).toBe(secrets.recordId);
    expect(otherFile.check).not.toBe(secrets.check);
    expect(otherFile.sealingKey).not.toEqual(secrets.sealingKey);
    const otherKey = deriveIdempotencySecrets(`${UUID}0`, file);
    expect([otherKey.recordId === secrets.recordId, otherKey.check === secrets.check]).toEqual([false, false]);
    // Neither the key nor the file's digest is in what is stored.
    expect(`${secrets.recordId}${secrets.check}`).not.toContain(UUID);
  });

  it('seals so that only the same key and file open it', () => {
    const secrets = deriveIdempotencySecrets(UUID, file);
    const answer = JSON.stringify({ delete_key: 'd'.repeat(43), update_key: 'u'.repeat(43) });
    const sealed = seal(secrets.sealingKey, secrets.recordId, answer);
    expect(sealed).not.toContain('ddd');
    expect(unseal(secrets.sealingKey, secrets.recordId, sealed)).toBe(answer);
    expect(seal(secrets.sealingKey, secrets.recordId, answer)).not.toBe(sealed); // a fresh IV each time
    const wrong = deriveIdempotencySecrets(UUID, Buffer.from('other bytes'));
    expect(() => unseal(wrong.sealingKey, secrets.recordId, sealed)).toThrow();
    expect(() => unseal(secrets.sealingKey, wrong.recordId.replace(/^./, 'x'), sealed)).toThrow();
  });
});
