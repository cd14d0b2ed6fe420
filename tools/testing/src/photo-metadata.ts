import sharp from 'sharp';
import { pngChunk } from './fixtures.js';

// Photos as a phone or an editor leaves them: EXIF with the place (GPS), the camera's maker
// note and a thumbnail, XMP, Photoshop/IPTC, a comment and an ICC profile; PNGs with eXIf and
// text chunks. The metadata is written here byte by byte (sharp writes EXIF but no GPS
// thumbnail, XMP packet or IPTC block of a chosen content), so tests know every byte of it.

/** Text that only the metadata carries: none of it may be left in a stripped file. */
export const PHOTO_SECRETS = {
  make: 'SecretCam Model 7',
  makerNote: 'MAKERNOTE-SERIAL-0042-CONFIDENTIAL',
  xmp: 'XMP-CREATOR-Jane-Doe',
  iptc: 'IPTC-BYLINE-Jane-Doe',
  comment: 'COMMENT-taken-at-home',
  pngText: 'PNG-TEXT-Author-Jane-Doe',
} as const;

const ASCII = 2;
const SHORT = 3;
const LONG = 4;
const RATIONAL = 5;
const UNDEFINED = 7;

interface TiffEntry {
  readonly tag: number;
  readonly type: number;
  readonly count: number;
  readonly value: Buffer;
}

const ascii = (tag: number, text: string): TiffEntry => ({ tag, type: ASCII, count: text.length + 1, value: Buffer.from(`${text}\0`, 'latin1') });
const short = (tag: number, value: number): TiffEntry => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt16LE(value, 0);
  return { tag, type: SHORT, count: 1, value: bytes };
};
const long = (tag: number, value: number): TiffEntry => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value, 0);
  return { tag, type: LONG, count: 1, value: bytes };
};
const rationals = (tag: number, ...pairs: [number, number][]): TiffEntry => {
  const bytes = Buffer.alloc(pairs.length * 8);
  pairs.forEach(([numerator, denominator], index) => {
    bytes.writeUInt32LE(numerator, index * 8);
    bytes.writeUInt32LE(denominator, index * 8 + 4);
  });
  return { tag, type: RATIONAL, count: pairs.length, value: bytes };
};

/** One little-endian IFD at offset `at`: its table, then the values that do not fit in an entry. */
function ifd(entries: readonly TiffEntry[], at: number, next: number): Buffer {
  const tableBytes = 2 + entries.length * 12 + 4;
  const table = Buffer.alloc(tableBytes);
  const values: Buffer[] = [];
  let valueAt = at + tableBytes;
  table.writeUInt16LE(entries.length, 0);
  entries.forEach((entry, index) => {
    const offset = 2 + index * 12;
    table.writeUInt16LE(entry.tag, offset);
    table.writeUInt16LE(entry.type, offset + 2);
    table.writeUInt32LE(entry.count, offset + 4);
    if (entry.value.length <= 4) {
      entry.value.copy(table, offset + 8);
      return;
    }
    table.writeUInt32LE(valueAt, offset + 8);
    const padded = entry.value.length % 2 === 0 ? entry.value : Buffer.concat([entry.value, Buffer.alloc(1)]);
    values.push(padded);
    valueAt += padded.length;
  });
  table.writeUInt32LE(next, tableBytes - 4);
  return Buffer.concat([table, ...values]);
}

/**
 * A little-endian EXIF TIFF structure as a phone writes it: IFD0 (make, orientation, links
 * to the Exif and GPS directories), the Exif IFD (date, maker note), the GPS IFD (a place
 * in Paris) and IFD1 with a JPEG thumbnail.
 */
export function phoneExif(orientation: number, thumbnail: Buffer): Buffer {
  const build = (exifAt: number, gpsAt: number, ifd1At: number, thumbnailAt: number) => {
    const ifd0 = ifd([ascii(0x010f, PHOTO_SECRETS.make), short(0x0112, orientation), long(0x8769, exifAt), long(0x8825, gpsAt)], 8, ifd1At);
    const exif = ifd(
      [ascii(0x9003, '2026:11:28 10:00:00'), { tag: 0x927c, type: UNDEFINED, count: PHOTO_SECRETS.makerNote.length, value: Buffer.from(PHOTO_SECRETS.makerNote, 'latin1') }],
      exifAt,
      0,
    );
    const gps = ifd(
      [ascii(0x0001, 'N'), rationals(0x0002, [48, 1], [51, 1], [2959, 100]), ascii(0x0003, 'E'), rationals(0x0004, [2, 1], [17, 1], [4032, 100])],
      gpsAt,
      0,
    );
    const ifd1 = ifd([long(0x0201, thumbnailAt), long(0x0202, thumbnail.length)], ifd1At, 0);
    return [ifd0, exif, gps, ifd1];
  };
  // The sizes do not depend on the offsets: lay out once to learn them, then for real.
  const [ifd0, exif, gps, ifd1] = build(0, 0, 0, 0).map((block) => block.length) as [number, number, number, number];
  const exifAt = 8 + ifd0;
  const gpsAt = exifAt + exif;
  const ifd1At = gpsAt + gps;
  const header = Buffer.from([0x49, 0x49, 42, 0, 8, 0, 0, 0]);
  return Buffer.concat([header, ...build(exifAt, gpsAt, ifd1At, ifd1At + ifd1), thumbnail]);
}

/** A JPEG marker segment: marker, length, body. */
export function jpegSegment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/** `jpeg` with `segments` inserted right after its SOI and APP0 (JFIF), where cameras put them. */
export function withJpegSegments(jpeg: Buffer, segments: readonly Buffer[]): Buffer {
  const afterApp0 = jpeg.readUInt8(3) === 0xe0 ? 4 + jpeg.readUInt16BE(4) : 2;
  return Buffer.concat([jpeg.subarray(0, afterApp0), ...segments, jpeg.subarray(afterApp0)]);
}

/** The types of a PNG's chunks, in order, up to IEND. */
export function pngChunkTypes(png: Buffer): string[] {
  const types: string[] = [];
  for (let at = 8; at + 8 <= png.length && types.at(-1) !== 'IEND'; at += 12 + png.readUInt32BE(at)) types.push(png.toString('latin1', at + 4, at + 8));
  return types;
}

function gradientImage(width: number, height: number) {
  const pixels = Buffer.alloc(width * height * 3);
  for (let at = 0; at < pixels.length; at += 3) {
    const x = (at / 3) % width;
    const y = Math.floor(at / 3 / width);
    pixels[at] = (x * 255) / width;
    pixels[at + 1] = (y * 255) / height;
    pixels[at + 2] = ((x + y) * 97) % 256;
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

const XMP_NAMESPACE = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');

/**
 * A phone photo: a JPEG with a Display P3 ICC profile (from sharp), then by hand the EXIF
 * (orientation 6, GPS, maker note, thumbnail), an XMP packet, a Photoshop IPTC block and a
 * comment, one more comment between scans, and a trailer after the end of the image.
 */
export async function phonePhotoJpeg(width = 96, height = 64): Promise<Buffer> {
  const base = await gradientImage(width, height).withIccProfile('p3').jpeg({ quality: 90, progressive: true }).toBuffer();
  const thumbnail = await gradientImage(16, 12).jpeg().toBuffer();
  const exif = jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), phoneExif(6, thumbnail)]));
  const xmp = jpegSegment(
    0xe1,
    Buffer.concat([XMP_NAMESPACE, Buffer.from(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>${PHOTO_SECRETS.xmp}</dc:creator></x:xmpmeta>`)]),
  );
  // Photoshop image resource 0x0404 (IPTC-NAA) holding one IPTC dataset 2:80 (By-line).
  const dataset = Buffer.concat([Buffer.from([0x1c, 2, 80, 0, PHOTO_SECRETS.iptc.length]), Buffer.from(PHOTO_SECRETS.iptc)]);
  const resource = Buffer.concat([Buffer.from('8BIM\x04\x04\0\0', 'latin1'), Buffer.from([0, 0, 0, dataset.length]), dataset, Buffer.alloc(dataset.length % 2)]);
  const iptc = jpegSegment(0xed, Buffer.concat([Buffer.from('Photoshop 3.0\0', 'latin1'), resource]));
  const comment = jpegSegment(0xfe, Buffer.from(PHOTO_SECRETS.comment));
  const photo = withJpegSegments(base, [exif, xmp, iptc, comment]);
  // A second comment between the first scan and the second (a progressive JPEG has several).
  const secondScan = photo.indexOf(Buffer.from([0xff, 0xda]), photo.indexOf(Buffer.from([0xff, 0xda])) + 2);
  return Buffer.concat([photo.subarray(0, secondScan), comment, photo.subarray(secondScan), Buffer.from('TRAILER-after-EOI')]);
}

/** A PNG with an ICC profile (iCCP, from sharp), an eXIf with orientation 6 and GPS, and text and time chunks before and after its data. */
export async function phonePhotoPng(width = 48, height = 32): Promise<Buffer> {
  const base = await gradientImage(width, height).withIccProfile('p3').png().toBuffer();
  const ihdrEnd = 8 + 12 + base.readUInt32BE(8);
  const iend = base.length - 12;
  const text = pngChunk('tEXt', Buffer.from(`Author\0${PHOTO_SECRETS.pngText}`, 'latin1'));
  const itxt = pngChunk('iTXt', Buffer.from(`Description\0\0\0en\0\0${PHOTO_SECRETS.pngText}`, 'latin1'));
  const time = pngChunk('tIME', Buffer.from([0x07, 0xea, 11, 28, 10, 0, 0]));
  const exif = pngChunk('eXIf', phoneExif(6, Buffer.alloc(0)));
  const ztxt = pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])]));
  return Buffer.concat([base.subarray(0, ihdrEnd), exif, text, itxt, base.subarray(ihdrEnd, iend), time, ztxt, base.subarray(iend), Buffer.from('TRAILER-after-IEND')]);
}
