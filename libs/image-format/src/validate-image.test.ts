import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { AppError } from '@imagehost/errors';
import { corrupted, fixtures, truncated } from '@imagehost/testing';
import { MAX_JPEG_SCANS, ONE_BAND_ABOVE_PIXELS, validateImage } from './validate-image.js';

const limits = { maxImagePixels: 40_000_000, maxImageSide: 32_767 };

async function refusal(bytes: Buffer, maxImagePixels = limits.maxImagePixels): Promise<string> {
  try {
    await validateImage(bytes, { ...limits, maxImagePixels });
  } catch (error) {
    if (error instanceof AppError) return `${error.statusCode} ${error.code}`;
    throw error;
  }
  return 'accepted';
}

describe('validateImage', () => {
  it('accepts every kind of JPEG and PNG and reports the type and size from the bytes', async () => {
    const cases: [string, Buffer, string, number, number][] = [
      ['baseline jpeg', await fixtures.baselineJpeg(), 'image/jpeg', 64, 48],
      ['progressive jpeg', await fixtures.progressiveJpeg(), 'image/jpeg', 64, 48],
      ['cmyk jpeg', await fixtures.cmykJpeg(), 'image/jpeg', 40, 30],
      ['rgb png', await fixtures.rgbPng(), 'image/png', 64, 48],
      ['rgba png', await fixtures.rgbaPng(), 'image/png', 64, 48],
      ['16-bit png', await fixtures.sixteenBitPng(), 'image/png', 32, 24],
      ['grey png', await fixtures.greyPng(), 'image/png', 20, 20],
      ['palette png', await fixtures.palettePng(), 'image/png', 20, 20],
      ['1x1 png', await fixtures.onePixelPng(), 'image/png', 1, 1],
      ['1x1 jpeg', await fixtures.onePixelJpeg(), 'image/jpeg', 1, 1],
    ];
    for (const [name, bytes, contentType, width, height] of cases) {
      expect([name, await validateImage(bytes, limits)]).toEqual([name, { contentType, width, height }]);
    }
  });

  it('refuses truncated and corrupt images with 422', async () => {
    const jpeg = await fixtures.baselineJpeg(256, 256);
    const png = await fixtures.rgbPng(128, 128);
    expect(await refusal(truncated(jpeg))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(truncated(png))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(corrupted(jpeg))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(corrupted(png))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(Buffer.from([0xff, 0xd8, 0xff]))).toBe('422 IMAGE_UNDECODABLE');
  });

  it('refuses truncated images also when many are validated at once, as a worker does', async () => {
    // sharp's stats() accepted about a third of these under concurrency; the ingest worker
    // validates several jobs at once.
    const sources = [await fixtures.baselineJpeg(160, 120), await fixtures.progressiveJpeg(300, 200), await fixtures.rgbPng(300, 200)];
    const cut = sources.flatMap((bytes) => [0.3, 0.6, 0.9].map((share) => truncated(bytes, Math.floor(bytes.length * share))));
    const outcomes = await Promise.all(cut.flatMap((bytes) => Array.from({ length: 20 }, () => refusal(bytes))));
    expect(new Set(outcomes)).toEqual(new Set(['422 IMAGE_UNDECODABLE']));
  });

  it('refuses every damaged image that a full-size decode of all its bands refuses', async () => {
    // Large images keep one band of their pixels (bench/decisions.md#first-band-only); libjpeg
    // decoding at 1/2 to 1/8 of the size instead let through a tenth to a quarter of these
    // damaged baseline JPEGs (bench/decisions.md#full-size-decode).
    const fullSizeDecode = async (bytes: Buffer) =>
      sharp(bytes, { failOn: 'warning' })
        .raw()
        .toBuffer()
        .then(
          () => 'accepted',
          () => '422 IMAGE_UNDECODABLE',
        );
    let seed = 19;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const damaged: Buffer[] = [];
    const images = [
      await fixtures.baselineJpeg(400, 304),
      await fixtures.progressiveJpeg(304, 400),
      await fixtures.cmykJpeg(320, 240),
      await fixtures.rgbaPng(200, 150),
      await fixtures.sixteenBitPng(200, 150),
      // Past the pixel count above which one band is kept.
      await fixtures.baselineJpeg(1000, Math.ceil(ONE_BAND_ABOVE_PIXELS / 1000) + 8),
      await fixtures.rgbaPng(1000, Math.ceil(ONE_BAND_ABOVE_PIXELS / 1000) + 8),
    ];
    for (const image of images) {
      // Past the headers, into the coded data that only a decode reads.
      const at = () => Math.floor(image.length * (0.125 + 0.85 * random()));
      for (let i = 0; i < 12; i++) damaged.push(truncated(image, at()));
      for (let i = 0; i < 24; i++) {
        const copy = Buffer.from(image);
        const from = at();
        for (let j = from; j < Math.min(copy.length - 2, from + 1 + Math.floor(random() * 8)); j++) copy[j] = Math.floor(random() * 256);
        damaged.push(copy);
      }
    }
    const verdicts = await Promise.all(damaged.map(async (bytes) => [await refusal(bytes), await fullSizeDecode(bytes)]));
    expect(verdicts.filter(([ours, reference]) => ours !== reference)).toEqual([]);
    // Most of the damage is caught at all, or the comparison would prove little.
    expect(verdicts.filter(([ours]) => ours === '422 IMAGE_UNDECODABLE').length).toBeGreaterThan(damaged.length * 0.6);
  });

  it('accepts bytes after the end of a JPEG, as some cameras write them', async () => {
    const jpeg = await fixtures.baselineJpeg(256, 256);
    expect(await refusal(Buffer.concat([jpeg, Buffer.from('trailing bytes')]))).toBe('accepted');
  });

  it('refuses more pixels than the limit from the header, before decoding', async () => {
    expect(await refusal(await fixtures.flatPng(1001, 1000), 1_000_000)).toBe('422 IMAGE_TOO_MANY_PIXELS');
    expect(await refusal(await fixtures.flatPng(1000, 1000), 1_000_000)).toBe('accepted');
  });

  it('refuses a JPEG with thousands of scans from its markers, and accepts one at the limit', async () => {
    expect(await refusal(await fixtures.manyScansJpeg(5000))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(await fixtures.manyScansJpeg(MAX_JPEG_SCANS + 1))).toBe('422 IMAGE_UNDECODABLE');
    expect(await refusal(await fixtures.manyScansJpeg(MAX_JPEG_SCANS))).toBe('accepted');
  });

  it('counts every frame of an animated PNG against the pixel limit', async () => {
    // 100 x 100 x 60 frames = 600,000 pixels; 2 frames = 20,000.
    expect(await refusal(await fixtures.apng(100, 100, 60), 500_000)).toBe('422 IMAGE_TOO_MANY_PIXELS');
    expect(await refusal(await fixtures.apng(100, 100, 2), 500_000)).toBe('accepted');
    expect(await validateImage(await fixtures.apng(16, 8, 3), limits)).toEqual({ contentType: 'image/png', width: 16, height: 8 });
  });

  it('refuses a side longer than the side limit, however few its pixels', async () => {
    const tall = await fixtures.flatPng(1, 40_000);
    expect(await refusal(tall)).toBe('422 IMAGE_TOO_MANY_PIXELS');
    await expect(validateImage(tall, limits)).rejects.toThrow('side limit of 32767');
    expect(await refusal(await fixtures.flatPng(40_000, 1))).toBe('422 IMAGE_TOO_MANY_PIXELS');
    expect(await refusal(await fixtures.flatPng(1, 1_000_000))).toBe('422 IMAGE_TOO_MANY_PIXELS');
    expect(await refusal(await fixtures.flatPng(1, 32_767))).toBe('accepted');
  });

  it('refuses other formats with 415', async () => {
    for (const make of [fixtures.gif, fixtures.webp, fixtures.tiff, fixtures.svg, fixtures.html, fixtures.text]) {
      expect(await refusal(await make())).toBe('415 UNSUPPORTED_IMAGE_TYPE');
    }
  });
});
