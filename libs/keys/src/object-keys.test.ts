import { describe, expect, it } from '@jest/globals';
import { generateImageKey, generateVersionId } from './keys.js';
import {
  IMAGE_OBJECTS_PREFIX,
  QUARANTINE_OBJECTS_PREFIX,
  imageObjectsPrefix,
  isObjectKey,
  objectKeyFor,
  parseObjectKey,
  parseQuarantineKey,
  quarantineKeyFor,
  quarantinePrefix,
} from './object-keys.js';

describe('object keys', () => {
  it('are images/{image_key}/{version_id}: the layout of every object already stored', () => {
    expect(objectKeyFor('AAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBB')).toBe('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB');
    expect(imageObjectsPrefix('AAAAAAAAAAAAAAAA')).toBe('images/AAAAAAAAAAAAAAAA/');
    expect(IMAGE_OBJECTS_PREFIX).toBe('images/');
  });

  it('keep the versions of one image under one prefix, apart from other images', () => {
    const imageKey = generateImageKey();
    const a = objectKeyFor(imageKey, generateVersionId());
    const b = objectKeyFor(imageKey, generateVersionId());
    expect(a).not.toBe(b);
    for (const key of [a, b]) expect(key.startsWith(imageObjectsPrefix(imageKey))).toBe(true);
    expect(objectKeyFor(generateImageKey(), generateVersionId()).startsWith(imageObjectsPrefix(imageKey))).toBe(false);
  });

  it('parse back into the image and version they were built from', () => {
    const imageKey = generateImageKey();
    const versionId = generateVersionId();
    const key = objectKeyFor(imageKey, versionId);
    expect(parseObjectKey(key)).toEqual({ imageKey, versionId });
    expect(isObjectKey(key)).toBe(true);
  });

  it('refuse every other key', () => {
    for (const key of [
      'images/AAAAAAAAAAAAAAAA',
      'images/AAAAAAAAAAAAAAAA/',
      'images/AAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB',
      'images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB/x',
      'other/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB',
      'images/AAAAAAAAAAAAAAA./BBBBBBBBBBBBBBBB',
      'ximages/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB',
    ]) {
      expect([key, parseObjectKey(key)]).toEqual([key, undefined]);
      expect([key, isObjectKey(key)]).toEqual([key, false]);
    }
    expect(isObjectKey(42)).toBe(false);
  });
});

describe('quarantine keys', () => {
  it('are quarantine/{image_key}/{version_id}, apart from every served object, and parse back', () => {
    const imageKey = generateImageKey();
    const versionId = generateVersionId();
    const key = quarantineKeyFor(imageKey, versionId);
    expect(key).toBe(`quarantine/${imageKey}/${versionId}`);
    expect(key.startsWith(QUARANTINE_OBJECTS_PREFIX)).toBe(true);
    expect(key.startsWith(quarantinePrefix(imageKey))).toBe(true);
    expect(key.startsWith(IMAGE_OBJECTS_PREFIX)).toBe(false);
    expect(parseQuarantineKey(key)).toEqual({ imageKey, versionId });
    expect(isObjectKey(key)).toBe(false);
    expect(parseQuarantineKey(objectKeyFor(imageKey, versionId))).toBeUndefined();
    expect(parseQuarantineKey(`quarantine/${imageKey}/${versionId}/x`)).toBeUndefined();
  });
});
