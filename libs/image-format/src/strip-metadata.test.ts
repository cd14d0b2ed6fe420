import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import {
  PHOTO_SECRETS,
  fixtures,
  jpegSegment,
  phoneExif,
  phonePhotoJpeg,
  phonePhotoPng,
  pngChunk,
  pngChunkTypes,
  truncated,
  withJpegSegments,
} from '@imagehost/testing';
import { AppError } from '@imagehost/errors';
import { stripImageMetadata } from './strip-metadata.js';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

// What a one-tag EXIF must be, byte for byte: big-endian TIFF header, IFD0 with one entry
// (0x0112 Orientation, SHORT, count 1, value 6), no next IFD.
const ORIENTATION_6_TIFF = hex('4d4d 002a 00000008 0001 0112 0003 00000001 0006 0000 00000000');

/** Strips a copy, so the fixture stays as it was. */
function strip(bytes: Buffer, type: 'image/jpeg' | 'image/png' = 'image/jpeg') {
  return stripImageMetadata(Buffer.from(bytes), type);
}

function refusalOf(bytes: Buffer, type: 'image/jpeg' | 'image/png' = 'image/jpeg'): string {
  try {
    strip(bytes, type);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return `${error.statusCode} ${error.code}`;
  }
}

async function pixels(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).raw().toBuffer();
}

/** The JPEG's segments before its first scan, as [marker, first bytes of the body]. */
function headerSegments(jpeg: Buffer): [number, string][] {
  const segments: [number, string][] = [];
  for (let at = 2; jpeg.readUInt8(at + 1) !== 0xda; at += 2 + jpeg.readUInt16BE(at + 2)) {
    segments.push([jpeg.readUInt8(at + 1), jpeg.toString('latin1', at + 4, at + 9)]);
  }
  return segments;
}

const EXIF = (tiff: Buffer) => jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));

describe('stripImageMetadata: JPEG', () => {
  it('removes EXIF (GPS, maker note, thumbnail), XMP, IPTC and comments; keeps the ICC profile, the orientation and the pixels', async () => {
    const photo = await phonePhotoJpeg();
    const { bytes, removedBytes } = strip(photo);
    expect(removedBytes).toBe(photo.length - bytes.length);
    const before = await sharp(photo).metadata();
    const after = await sharp(bytes).metadata();
    expect(after.exif).toEqual(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), ORIENTATION_6_TIFF]));
    expect(after.orientation).toBe(6);
    expect(after.icc).toEqual(before.icc);
    expect([after.xmp, after.iptc, after.comments]).toEqual([undefined, undefined, undefined]);
    for (const secret of Object.values(PHOTO_SECRETS)) expect(bytes.includes(secret)).toBe(false);
    expect(bytes.includes('TRAILER')).toBe(false);
    expect(await pixels(bytes)).toEqual(await pixels(photo));
    // The one-tag EXIF where the phone's was, then the ICC profile as it was.
    expect(headerSegments(bytes).map(([marker, id]) => `${marker.toString(16)} ${id}`).slice(0, 2)).toEqual(['e1 Exif\0', 'e2 ICC_P']);
    expect(bytes.subarray(-2)).toEqual(hex('ffd9'));
  });

  it('leaves a file without metadata as it is', async () => {
    for (const jpeg of [await fixtures.baselineJpeg(), await fixtures.progressiveJpeg(), await fixtures.cmykJpeg(), await fixtures.manyScansJpeg(40)]) {
      const copy = Buffer.from(jpeg);
      expect(strip(copy)).toEqual({ bytes: jpeg, removedBytes: 0 });
    }
  });

  it('keeps the Adobe segment a CMYK JPEG needs to decode', async () => {
    const cmyk = await fixtures.cmykJpeg();
    expect(headerSegments(cmyk).some(([marker, id]) => marker === 0xee && id === 'Adobe')).toBe(true);
    const { bytes } = strip(withJpegSegments(cmyk, [jpegSegment(0xfe, Buffer.from('note'))]));
    expect(bytes).toEqual(cmyk);
  });

  it('is idempotent: stripping a stripped file changes nothing', async () => {
    const once = Buffer.from(strip(await phonePhotoJpeg()).bytes);
    expect(strip(once)).toEqual({ bytes: once, removedBytes: 0 });
  });

  it('drops the EXIF whole when the orientation is absent, 1 or invalid, and reads only the first EXIF', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const thumbnail = Buffer.alloc(0);
    for (const orientation of [1, 0, 9]) {
      expect(strip(withJpegSegments(jpeg, [EXIF(phoneExif(orientation, thumbnail))])).bytes).toEqual(jpeg);
    }
    // An EXIF with the orientation after one without: viewers read the first, so none is kept.
    const both = withJpegSegments(jpeg, [EXIF(phoneExif(1, thumbnail)), EXIF(phoneExif(8, thumbnail))]);
    expect(strip(both).bytes).toEqual(jpeg);
    const big = withJpegSegments(jpeg, [EXIF(phoneExif(3, thumbnail)), EXIF(phoneExif(8, thumbnail))]);
    expect((await sharp(strip(big).bytes).metadata()).orientation).toBe(3);
  });

  it('drops every other application segment (MPF, JFXX, APP3-APP13, APP15) and everything after EOI', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const others = [0xe0, 0xe2, 0xe3, 0xe9, 0xec, 0xed, 0xef].map((marker) => jpegSegment(marker, Buffer.from('MPF\0 or other data')));
    expect(strip(Buffer.concat([withJpegSegments(jpeg, others), Buffer.from('appended video')])).bytes).toEqual(jpeg);
  });

  it('skips fill bytes before markers, keeps the scan data whole and drops metadata between scans', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const filled = Buffer.concat([jpeg.subarray(0, 2), hex('ffffff'), jpeg.subarray(2)]);
    expect(strip(filled).bytes).toEqual(jpeg);
    // Scan data with stuffed bytes and restart markers, and a comment between two scans.
    const sos = hex('ffda 0008 01 0100 013f00');
    const data = hex('ff00 12 ffd0 ff00 ffd7 34');
    const crafted = Buffer.concat([hex('ffd8 ffdb 0005 00 0102'), sos, data, jpegSegment(0xfe, Buffer.from('between scans')), sos, data, hex('ffd9')]);
    expect(strip(crafted).bytes).toEqual(Buffer.concat([hex('ffd8 ffdb 0005 00 0102'), sos, data, sos, data, hex('ffd9')]));
  });

  it('keeps a file cut inside its scan data as it is: the decoder refuses it', async () => {
    const cut = truncated(await fixtures.baselineJpeg(200, 200));
    expect(strip(cut).bytes).toEqual(cut);
  });

  it('refuses malformed metadata segments with 422', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const exif = EXIF(phoneExif(6, Buffer.alloc(0)));
    const withLength = (segment: Buffer, length: number) => {
      const copy = Buffer.from(segment);
      copy.writeUInt16BE(length, 2);
      return copy;
    };
    const cases: [string, Buffer][] = [
      // The APP1 says it runs past the end of the file.
      ['too long', withJpegSegments(jpeg, [withLength(exif, 0xfff0)])],
      // The APP1 says it ends inside itself: what follows is not a marker.
      ['too short', withJpegSegments(jpeg, [withLength(exif, 40)])],
      ['length below 2', withJpegSegments(jpeg, [withLength(exif, 1)])],
      ['cut in the header', Buffer.from(withJpegSegments(jpeg, [exif]).subarray(0, 30))],
      ['not TIFF', withJpegSegments(jpeg, [EXIF(Buffer.from('XX*\0\x08\0\0\0'))])],
      ['no TIFF magic', withJpegSegments(jpeg, [EXIF(hex('4949 2b00 08000000 0000 00000000'))])],
      ['IFD0 outside', withJpegSegments(jpeg, [EXIF(hex('4949 2a00 ff000000 0000 00000000'))])],
      ['IFD0 too many entries', withJpegSegments(jpeg, [EXIF(hex('4949 2a00 08000000 0900 1201 0300 01000000 0600 0000 00000000'))])],
      ['header cut', withJpegSegments(jpeg, [EXIF(hex('4949 2a00'))])],
    ];
    for (const [name, bytes] of cases) expect([name, refusalOf(bytes)]).toEqual([name, '422 IMAGE_UNDECODABLE']);
  });

  it('refuses garbage between segments, as the decoder does', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const garbage = withJpegSegments(jpeg, [hex('1234')]);
    expect(refusalOf(garbage)).toBe('422 IMAGE_UNDECODABLE');
    await expect(sharp(garbage, { failOn: 'warning' }).raw().toBuffer()).rejects.toThrow(/extraneous bytes/);
  });

  it('works in place: the result is a view of the buffer given', async () => {
    const photo = Buffer.from(await phonePhotoJpeg());
    const { bytes } = stripImageMetadata(photo, 'image/jpeg');
    expect(bytes.buffer).toBe(photo.buffer);
    expect(bytes.byteOffset).toBe(photo.byteOffset);
  });
});

describe('stripImageMetadata: PNG', () => {
  it('removes eXIf (but its orientation), tEXt, iTXt, zTXt, tIME and what follows IEND; keeps iCCP and the pixels', async () => {
    const photo = await phonePhotoPng();
    expect(pngChunkTypes(photo)).toEqual(['IHDR', 'eXIf', 'tEXt', 'iTXt', 'iCCP', 'pHYs', 'IDAT', 'tIME', 'zTXt', 'IEND']);
    const { bytes, removedBytes } = strip(photo, 'image/png');
    expect(removedBytes).toBe(photo.length - bytes.length);
    expect(pngChunkTypes(bytes)).toEqual(['IHDR', 'eXIf', 'iCCP', 'pHYs', 'IDAT', 'IEND']);
    expect(bytes.subarray(bytes.indexOf('eXIf') - 4)).toEqual(
      Buffer.concat([pngChunk('eXIf', ORIENTATION_6_TIFF), photo.subarray(photo.indexOf('iCCP') - 4, photo.indexOf('tIME') - 4), pngChunk('IEND', Buffer.alloc(0))]),
    );
    const before = await sharp(photo).metadata();
    const after = await sharp(bytes).metadata();
    expect(after.icc).toEqual(before.icc);
    expect(after.orientation).toBe(6);
    expect(after.comments).toBeUndefined();
    expect(bytes.includes(PHOTO_SECRETS.make) || bytes.includes(PHOTO_SECRETS.pngText)).toBe(false);
    expect(await pixels(bytes)).toEqual(await pixels(photo));
  });

  it('leaves a PNG without metadata, an animated one included, as it is', async () => {
    for (const png of [await fixtures.rgbaPng(), await fixtures.palettePng(), await fixtures.sixteenBitPng(), await fixtures.apng(8, 8, 3)]) {
      expect(strip(png, 'image/png')).toEqual({ bytes: png, removedBytes: 0 });
    }
  });

  it('refuses malformed chunks with 422', async () => {
    const png = await fixtures.rgbPng();
    const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
    const insert = (chunk: Buffer) => Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
    const text = pngChunk('tEXt', Buffer.from('Author\0someone', 'latin1'));
    const badCrc = Buffer.from(text);
    badCrc.writeUInt32BE((badCrc.readUInt32BE(badCrc.length - 4) ^ 1) >>> 0, badCrc.length - 4);
    const pastTheEnd = Buffer.from(text);
    pastTheEnd.writeUInt32BE(0x7ffffff0, 0);
    const cases: [string, Buffer][] = [
      ['wrong CRC on tEXt', insert(badCrc)],
      ['chunk past the end', insert(pastTheEnd)],
      ['eXIf not TIFF', insert(pngChunk('eXIf', Buffer.from('not a tiff structure at all')))],
      ['cut mid-file', truncated(png)],
    ];
    for (const [name, bytes] of cases) expect([name, refusalOf(bytes, 'image/png')]).toEqual([name, '422 IMAGE_UNDECODABLE']);
  });
});
