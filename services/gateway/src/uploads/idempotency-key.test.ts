import { describe, expect, it } from '@jest/globals';
import { IDEMPOTENCY_KEY_PATTERN, deriveIdempotencySecrets, parseIdempotencyKey, seal, unseal } from './idempotency-key.js';

const UUID = '8e03978e-40d5-43e8-bc93-6894a57f9324';

describe('IDEMPOTENCY_KEY_PATTERN and parseIdempotencyKey', () => {
  // As Ajv applies a JSON Schema pattern.
  const valid = (header: string) => new RegExp(IDEMPOTENCY_KEY_PATTERN, 'u').test(header);

  it('takes the draft form (a quoted Structured Field string) and a bare value', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    const cases: [string, string][] = [
      [`"${UUID}"`, UUID],
      [UUID, UUID],
      ['"a key with \\"quotes\\" and spaces"', 'a key with "quotes" and spaces'],
      ['"back\\\\slash and sixteen"', 'back\\slash and sixteen'],
      ['x'.repeat(16), 'x'.repeat(16)],
      ['x'.repeat(255), 'x'.repeat(255)],
      [`"${'x'.repeat(255)}"`, 'x'.repeat(255)],
      // Bounds count the key, not its escapes: 255 escaped quotes are 510 characters between the quotes.
      [`"${'\\"'.repeat(255)}"`, '"'.repeat(255)],
    ];
    for (const [header, key] of cases) {
      expect([header, valid(header), parseIdempotencyKey(header)]).toEqual([header, true, key]);
    }
  });

  it('refuses an empty, short, long or unreadable key', () => {
    const cases = [
      '',
      '   ',
      '""',
      'short-key',
      'x'.repeat(15),
      `"${'x'.repeat(15)}"`,
      'x'.repeat(256),
      `"${'x'.repeat(256)}"`,
      `"${'\\"'.repeat(256)}"`,
      `${UUID}, ${UUID}`, // sent twice: Node joins the lines with a comma
      `"${UUID}`,
      `a key with spaces ${UUID}`,
      `"${UUID}\u00e9"`,
      `"${UUID}\\x"`,
    ];
    for (const header of cases) expect([header, valid(header)]).toEqual([header, false]);
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
