import { describe, expect, it } from '@jest/globals';
import { fixtures, pngChunk, truncated } from '@imagehost/testing';
import { countJpegScans, readApngFrameCount } from './image-structure.js';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

// Hand-made JPEG pieces: only the marker structure matters to the walker.
const SOI = hex('ffd8');
const EOI = hex('ffd9');
const DQT = hex('ffdb 0005 00 0102'); // a segment with a length, contents irrelevant here
const SOS = hex('ffda 0008 01 0100 013f00');

function jpeg(...parts: Buffer[]): Buffer {
  return Buffer.concat([SOI, DQT, ...parts, EOI]);
}

describe('countJpegScans', () => {
  it('counts the scans of real JPEGs from sharp', async () => {
    expect(countJpegScans(await fixtures.baselineJpeg())).toBe(1);
    // libjpeg's standard progression for colour images.
    expect(countJpegScans(await fixtures.progressiveJpeg())).toBe(10);
    expect(countJpegScans(await fixtures.manyScansJpeg(1234))).toBe(1234);
  });

  it('counts crafted scans, whatever their entropy-coded data holds', () => {
    expect(countJpegScans(jpeg(...Array<Buffer>(300).fill(Buffer.concat([SOS, hex('12 34')]))))).toBe(300);
    // Stuffed 0xFF00, restart markers and fill bytes belong to the data or precede the next marker.
    const tricky = hex('ff00 12 ffd0 ff00 ffd7 34 ff00ff00');
    expect(countJpegScans(jpeg(SOS, tricky, SOS, hex('56 ffff ffff'), SOS, tricky))).toBe(3);
    // Marker-like bytes inside a segment are passed over by its length.
    expect(countJpegScans(jpeg(hex('ffe0 0006 ffda ffda'), SOS, hex('00')))).toBe(1);
  });

  it('stops at EOI: what follows the image is not counted', () => {
    expect(countJpegScans(Buffer.concat([jpeg(SOS, hex('00')), SOS, hex('00'), SOS]))).toBe(1);
  });

  it('skips garbage between segments as libjpeg does, so it cannot hide scans', () => {
    expect(countJpegScans(jpeg(hex('4242'), SOS, hex('00'), DQT, hex('99 ff00 77'), SOS, hex('00')))).toBe(2);
  });

  it('returns the count so far for truncated input', async () => {
    const progressive = await fixtures.progressiveJpeg();
    const half = countJpegScans(truncated(progressive));
    expect(half).toBeGreaterThan(0);
    expect(half).toBeLessThan(10);
    expect(countJpegScans(Buffer.concat([SOI, SOS, hex('12'), SOS.subarray(0, 3)]))).toBe(1);
    expect(countJpegScans(Buffer.concat([SOI, SOS.subarray(0, 6)]))).toBe(1);
  });

  it('never throws on short, empty or meaningless bytes', () => {
    for (const bytes of [Buffer.alloc(0), hex('ff'), hex('ffd8'), hex('ffd8ff'), hex('ffd8ffda'), hex('ffd8ffda00'), hex('ffd8ffdb0000ffda')]) {
      expect(() => countJpegScans(bytes)).not.toThrow();
    }
    expect(countJpegScans(hex('ffd8ffdb0000ffda00080101'))).toBe(0); // a length below 2 ends the walk
    expect(countJpegScans(Buffer.alloc(1000, 0xff))).toBe(0);
    expect(countJpegScans(Buffer.from('not a jpeg at all'))).toBe(0);
    expect(countJpegScans(Buffer.concat([SOI, Buffer.alloc(1000, 0xff)]))).toBe(0);
  });
});

const chunk = pngChunk;

const PNG_SIGNATURE = hex('89504e470d0a1a0a');
const IHDR = chunk('IHDR', hex('00000010 00000010 08 06 00 00 00'));
const IDAT = chunk('IDAT', hex('78 9c 03 00 00 00 00 01'));
const IEND = chunk('IEND', Buffer.alloc(0));
function acTL(frames: number): Buffer {
  const data = Buffer.alloc(8); // num_frames, then num_plays (0: forever)
  data.writeUInt32BE(frames, 0);
  return chunk('acTL', data);
}

describe('readApngFrameCount', () => {
  it('reads the frame count of an animated PNG', async () => {
    expect(readApngFrameCount(Buffer.concat([PNG_SIGNATURE, IHDR, acTL(3), IDAT, IEND]))).toBe(3);
    expect(readApngFrameCount(Buffer.concat([PNG_SIGNATURE, IHDR, chunk('tEXt', Buffer.from('a\0b')), acTL(70_000), IDAT, IEND]))).toBe(70_000);
    expect(readApngFrameCount(await fixtures.apng(16, 8, 5))).toBe(5);
  });

  it('is undefined for a still PNG, and for an acTL after the image data, which viewers ignore', async () => {
    expect(readApngFrameCount(await fixtures.rgbaPng())).toBeUndefined();
    expect(readApngFrameCount(Buffer.concat([PNG_SIGNATURE, IHDR, IDAT, acTL(3), IEND]))).toBeUndefined();
  });

  it('is undefined, without throwing, for cut-short or meaningless bytes', async () => {
    const animated = Buffer.concat([PNG_SIGNATURE, IHDR, acTL(3), IDAT, IEND]);
    const acTLEnd = PNG_SIGNATURE.length + IHDR.length + acTL(3).length;
    for (const keep of [0, 4, 8, 12, 20, acTLEnd - 8, acTLEnd - 1]) expect([keep, readApngFrameCount(animated.subarray(0, keep))]).toEqual([keep, undefined]);
    expect(readApngFrameCount(animated.subarray(0, acTLEnd))).toBe(3);
    const huge = Buffer.concat([PNG_SIGNATURE, hex('ffffffff'), Buffer.from('tEXt'), acTL(3)]);
    expect(readApngFrameCount(huge)).toBeUndefined();
    expect(readApngFrameCount(Buffer.concat([PNG_SIGNATURE, IHDR, chunk('acTL', hex('0000')), IDAT]))).toBeUndefined();
    expect(readApngFrameCount(await fixtures.baselineJpeg())).toBeUndefined();
    expect(readApngFrameCount(Buffer.alloc(0))).toBeUndefined();
  });
});
