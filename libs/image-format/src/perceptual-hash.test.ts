import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { fixtures } from '@imagehost/testing';
import { dctHash, hammingDistance, perceptualHash, pictureHashes } from './perceptual-hash.js';

const { scene } = fixtures;

describe('perceptualHash', () => {
  it('is 16 hex digits, the same for the same bytes', async () => {
    const image = await scene(1);
    const hash = await perceptualHash(image);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(await perceptualHash(image)).toBe(hash);
  });

  it('stays within a few bits for a re-encoded, resized or PNG copy, and is far from another picture', async () => {
    const original = await scene(7);
    const hash = await perceptualHash(original);
    const copies = [
      await sharp(original).jpeg({ quality: 40 }).toBuffer(),
      await sharp(original).resize(320).jpeg({ quality: 85 }).toBuffer(),
      await sharp(original).png().toBuffer(),
    ];
    for (const copy of copies) expect(hammingDistance(hash, await perceptualHash(copy))).toBeLessThanOrEqual(6);
    expect(hammingDistance(hash, await perceptualHash(await scene(8)))).toBeGreaterThan(10);
  });
});

/** `scene(seed)` cut out as an ellipse on a transparent background, `hidden` under the transparent pixels. */
async function cutOut(seed: number, hidden: number): Promise<Buffer> {
  const { data, info } = await sharp(await scene(seed)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgba = Buffer.alloc(info.width * info.height * 4);
  for (let y = 0; y < info.height; y += 1) {
    for (let x = 0; x < info.width; x += 1) {
      const inside = ((x - info.width / 2) / (info.width / 3)) ** 2 + ((y - info.height / 2) / (info.height / 3)) ** 2 <= 1;
      const from = (y * info.width + x) * 3;
      const to = (y * info.width + x) * 4;
      for (let channel = 0; channel < 3; channel += 1) rgba[to + channel] = inside ? (data[from + channel] ?? 0) : hidden;
      rgba[to + 3] = inside ? 255 : 0;
    }
  }
  return sharp(rgba, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toBuffer();
}

describe('perceptualHash of a transparent picture', () => {
  it('hashes what is seen on white: the colour under transparent pixels does not count, and a JPEG copy on white matches', async () => {
    const overBlack = await cutOut(7, 0);
    const hash = await perceptualHash(overBlack);
    expect(await perceptualHash(await cutOut(7, 255))).toBe(hash);
    const jpegOnWhite = await sharp(overBlack).flatten({ background: '#ffffff' }).jpeg({ quality: 70 }).toBuffer();
    expect(hammingDistance(hash, await perceptualHash(jpegOnWhite))).toBeLessThanOrEqual(6);
  });
});

describe('dctHash', () => {
  it('is 16 hex digits, the same for the same bytes', async () => {
    const image = await scene(1);
    const hash = await dctHash(image);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(await dctHash(image)).toBe(hash);
  });

  it('stays within a few bits for a re-encoded, resized or PNG copy, and is far from another picture', async () => {
    const original = await scene(7);
    const hash = await dctHash(original);
    const copies = [
      await sharp(original).jpeg({ quality: 40 }).toBuffer(),
      await sharp(original).resize(320).jpeg({ quality: 85 }).toBuffer(),
      await sharp(original).png().toBuffer(),
    ];
    for (const copy of copies) expect(hammingDistance(hash, await dctHash(copy))).toBeLessThanOrEqual(6);
    expect(hammingDistance(hash, await dctHash(await scene(8)))).toBeGreaterThan(10);
  });

  it('hashes a transparent picture as seen on white', async () => {
    expect(await dctHash(await cutOut(7, 255))).toBe(await dctHash(await cutOut(7, 0)));
  });
});

describe('pictureHashes', () => {
  it('gives what perceptualHash and dctHash give, for an opaque and a transparent picture', async () => {
    for (const image of [await scene(3), await cutOut(5, 0)]) {
      expect(await pictureHashes(image)).toEqual({ dHash: await perceptualHash(image), pHash: await dctHash(image) });
    }
  });

  it('rejects bytes that do not decode', async () => {
    await expect(pictureHashes(Buffer.from('not an image'))).rejects.toThrow();
  });
});

describe('hammingDistance', () => {
  it('counts the differing bits', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('00000000000000f0', '0000000000000001')).toBe(5);
  });
});
