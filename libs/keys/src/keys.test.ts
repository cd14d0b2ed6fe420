import { describe, expect, it } from '@jest/globals';
import {
  CAPABILITY_KEY_LENGTH,
  IMAGE_KEY_LENGTH,
  generateCapabilityKey,
  generateImageKey,
  hashCapabilityKey,
  isCapabilityKey,
  isImageKey,
  isSha256Hex,
} from './keys.js';

describe('keys', () => {
  it('makes URL-safe image keys of fixed length with at least 90 bits of entropy', () => {
    const keys = new Set(Array.from({ length: 2000 }, generateImageKey));
    expect(keys.size).toBe(2000);
    for (const key of keys) {
      expect(key).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(isImageKey(key)).toBe(true);
    }
    expect(IMAGE_KEY_LENGTH * Math.log2(64)).toBeGreaterThanOrEqual(90);
  });

  it('makes capability keys of at least 128 random bits, distinct every time', () => {
    const keys = new Set(Array.from({ length: 2000 }, generateCapabilityKey));
    expect(keys.size).toBe(2000);
    for (const key of keys) {
      expect(key).toHaveLength(CAPABILITY_KEY_LENGTH);
      expect(Buffer.from(key, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      expect(isCapabilityKey(key)).toBe(true);
    }
  });

  it('hashes keys with SHA-256 so the key itself is not recoverable from storage', () => {
    // Known SHA-256 of "abc" (FIPS 180-2 test vector).
    expect(hashCapabilityKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = generateCapabilityKey();
    expect(isSha256Hex(hashCapabilityKey(key))).toBe(true);
    expect(hashCapabilityKey(key)).not.toContain(key);
  });

  it('refuses anything that is not a well-formed key', () => {
    for (const bad of ['', 'a', 'x'.repeat(15), 'x'.repeat(17), 'x'.repeat(10_000), 'abcdefgh/jklmnop', 'abcdefghijklmno.', null, 42, { $ne: '' }]) {
      expect(isImageKey(bad)).toBe(false);
      expect(isCapabilityKey(bad)).toBe(false);
    }
  });
});
