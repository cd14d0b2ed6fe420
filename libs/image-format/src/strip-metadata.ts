import { crc32 } from 'node:zlib';
import { AppError } from '@imagehost/errors';
import type { ImageContentType } from './image-format.js';
import { isStandaloneJpegMarker, skipEntropyData } from './image-structure.js';

// The one owner of metadata removal: a walker over JPEG segments and PNG chunks that drops
// what identifies a photo's owner (EXIF with its GPS, thumbnail and maker notes, XMP,
// IPTC/Photoshop, comments, PNG text and time chunks) and copies everything else byte for
// byte, so the pixels stay exactly as uploaded. No library does this losslessly while
// keeping the ICC profile and the orientation: exif-be-gone keeps neither the orientation
// nor refuses a malformed file, and exiftool needs a Perl process per upload.

/** What stripping left and how much it took away. */
export interface StrippedImage {
  /** The image without its metadata: a view of the buffer that was passed in. */
  readonly bytes: Buffer;
  readonly removedBytes: number;
}

function malformed(what: string): AppError {
  return new AppError('IMAGE_UNDECODABLE', `the image's metadata is malformed: ${what}`);
}

/**
 * Compacts a buffer in place: kept ranges and replacements are written from the start,
 * never past where the walk is reading, so no second copy of an upload is ever made.
 */
class InPlaceWriter {
  private written: number;

  constructor(
    private readonly bytes: Buffer,
    start: number,
  ) {
    this.written = start;
  }

  keep(from: number, to: number): void {
    if (this.written !== from) this.bytes.copyWithin(this.written, from, to);
    this.written += to - from;
  }

  /** Writes `replacement` for the input range ending at `readEnd`; it must not be longer than that range. */
  replace(replacement: Buffer, readStart: number, readEnd: number): void {
    if (replacement.length > readEnd - readStart) throw new RangeError('a replacement may not grow the file');
    replacement.copy(this.bytes, this.written);
    this.written += replacement.length;
  }

  result(): StrippedImage {
    return { bytes: this.bytes.subarray(0, this.written), removedBytes: this.bytes.length - this.written };
  }
}

const ORIENTATION_TAG = 0x0112;
const TIFF_SHORT = 3;
// Header, one-entry IFD0, next-IFD offset.
const TIFF_HEADER_BYTES = 8;
const IFD_ENTRY_BYTES = 12;

/**
 * The Orientation (1-8) in IFD0 of a TIFF structure (EXIF's body), `undefined` when it has
 * none or an invalid one. Only the header and IFD0 are read; they must be whole, or the
 * orientation a viewer would apply cannot be known.
 */
export function readTiffOrientation(tiff: Buffer): number | undefined {
  if (tiff.length < TIFF_HEADER_BYTES) throw malformed('the EXIF header is cut short');
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw malformed('the EXIF byte order is neither II nor MM');
  const u16 = (at: number) => (order === 'II' ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (order === 'II' ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  if (u16(2) !== 42) throw malformed('the EXIF header lacks the TIFF magic number');
  const ifd = u32(4);
  if (ifd < TIFF_HEADER_BYTES || ifd + 2 > tiff.length) throw malformed('the first EXIF directory lies outside the segment');
  const entries = u16(ifd);
  if (ifd + 2 + entries * IFD_ENTRY_BYTES + 4 > tiff.length) throw malformed('the first EXIF directory runs past the segment');
  for (let index = 0; index < entries; index++) {
    const entry = ifd + 2 + index * IFD_ENTRY_BYTES;
    if (u16(entry) !== ORIENTATION_TAG) continue;
    if (u16(entry + 2) !== TIFF_SHORT || u32(entry + 4) < 1) return undefined;
    const value = u16(entry + 8);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}

/** A big-endian TIFF structure whose IFD0 holds only the Orientation tag (26 bytes). */
export function orientationOnlyTiff(orientation: number): Buffer {
  const tiff = Buffer.alloc(TIFF_HEADER_BYTES + 2 + IFD_ENTRY_BYTES + 4);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(TIFF_HEADER_BYTES, 4);
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(ORIENTATION_TAG, 10);
  tiff.writeUInt16BE(TIFF_SHORT, 12);
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  // The value's padding and the next-IFD offset (none) stay zero.
  return tiff;
}

/** Orientation 1 is what a viewer assumes without EXIF: only 2-8 need keeping. */
function orientationToKeep(tiff: Buffer): number | undefined {
  const orientation = readTiffOrientation(tiff);
  return orientation === undefined || orientation === 1 ? undefined : orientation;
}

// ---- JPEG ----

const JPEG_SOS = 0xda;
const JPEG_EOI = 0xd9;
const JPEG_APP0 = 0xe0;
const JPEG_APP1 = 0xe1;
const JPEG_APP2 = 0xe2;
const JPEG_APP14 = 0xee;
const JPEG_APP15 = 0xef;
const JPEG_COM = 0xfe;

const EXIF_ID = Buffer.from('Exif\0\0', 'latin1');
const JFIF_ID = Buffer.from('JFIF\0', 'latin1');
const ICC_ID = Buffer.from('ICC_PROFILE\0', 'latin1');
const ADOBE_ID = Buffer.from('Adobe', 'latin1');

function startsWith(bytes: Buffer, from: number, to: number, id: Buffer): boolean {
  return to - from >= id.length && bytes.subarray(from, from + id.length).equals(id);
}

/** An APP1 segment, marker included, holding EXIF with only the Orientation tag. */
function orientationOnlyApp1(orientation: number): Buffer {
  const body = Buffer.concat([EXIF_ID, orientationOnlyTiff(orientation)]);
  const head = Buffer.from([0xff, JPEG_APP1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/**
 * Which application segments stay: JFIF (pixel density), ICC profiles (colours), Adobe
 * (how CMYK and YCCK decode). Every other APPn and every COM is metadata; APP1 EXIF is
 * handled apart, for its orientation.
 */
function keepsApplicationSegment(marker: number, bytes: Buffer, from: number, to: number): boolean {
  if (marker === JPEG_APP0) return startsWith(bytes, from, to, JFIF_ID);
  if (marker === JPEG_APP2) return startsWith(bytes, from, to, ICC_ID);
  if (marker === JPEG_APP14) return startsWith(bytes, from, to, ADOBE_ID);
  return false;
}

/**
 * Walks the segments as libjpeg reads them (as `countJpegScans` does), between scans too, and
 * stops at EOI: whatever follows it (camera trailers, appended preview images) goes, since
 * no decoder draws it. Data cut short inside a scan is kept as it is: the decoder refuses it.
 */
function stripJpeg(bytes: Buffer): StrippedImage {
  const out = new InPlaceWriter(bytes, 2);
  let sawExif = false;
  let at = 2;
  while (at < bytes.length) {
    if (bytes.readUInt8(at) !== 0xff) throw malformed(`a segment ends where no marker follows (offset ${at})`);
    if (at + 1 >= bytes.length) break;
    const marker = bytes.readUInt8(at + 1);
    if (marker === 0xff) {
      at += 1; // fill before a marker
      continue;
    }
    if (marker === JPEG_EOI) {
      out.keep(at, at + 2);
      break;
    }
    if (isStandaloneJpegMarker(marker)) {
      out.keep(at, at + 2);
      at += 2;
      continue;
    }
    if (at + 4 > bytes.length) throw malformed('the last segment is cut short');
    const length = bytes.readUInt16BE(at + 2);
    const end = at + 2 + length;
    if (length < 2) throw malformed(`a segment declares a length of ${length}`);
    if (end > bytes.length) throw malformed(`a segment (marker 0x${marker.toString(16)}) runs past the end of the file`);
    const body = at + 4;
    if (marker === JPEG_SOS) {
      const dataEnd = skipEntropyData(bytes, end);
      out.keep(at, dataEnd);
      at = dataEnd;
      continue;
    }
    if (marker === JPEG_APP1 && startsWith(bytes, body, end, EXIF_ID)) {
      // Viewers read the first EXIF only; later ones are dropped unread.
      const orientation = sawExif ? undefined : orientationToKeep(bytes.subarray(body + EXIF_ID.length, end));
      sawExif = true;
      if (orientation !== undefined) out.replace(orientationOnlyApp1(orientation), at, end);
    } else if ((marker >= JPEG_APP0 && marker <= JPEG_APP15) || marker === JPEG_COM) {
      if (keepsApplicationSegment(marker, bytes, body, end)) out.keep(at, end);
    } else {
      out.keep(at, end);
    }
    at = end;
  }
  return out.result();
}

// ---- PNG ----

const PNG_SIGNATURE_BYTES = 8;
const PNG_CHUNK_OVERHEAD = 12;
const PNG_MAX_CHUNK_LENGTH = 0x7fffffff;
/** Text, time and EXIF chunks: the PNG metadata that can say who, where and when. */
const PNG_METADATA_CHUNKS = new Set(['tEXt', 'iTXt', 'zTXt', 'tIME', 'eXIf']);

function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.alloc(PNG_CHUNK_OVERHEAD + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/**
 * Walks the chunks from the signature to IEND; what follows IEND goes. A metadata chunk is
 * read (its CRC checked, an eXIf's orientation kept) before it is dropped; other chunks are
 * copied unread, their CRCs left to the decoder.
 */
function stripPng(bytes: Buffer): StrippedImage {
  const out = new InPlaceWriter(bytes, PNG_SIGNATURE_BYTES);
  let sawExif = false;
  for (let at = PNG_SIGNATURE_BYTES; at < bytes.length; ) {
    if (at + PNG_CHUNK_OVERHEAD > bytes.length) throw malformed('the last chunk is cut short');
    const length = bytes.readUInt32BE(at);
    if (length > PNG_MAX_CHUNK_LENGTH) throw malformed(`a chunk declares a length of ${length}`);
    const end = at + PNG_CHUNK_OVERHEAD + length;
    if (end > bytes.length) throw malformed('a chunk runs past the end of the file');
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (!PNG_METADATA_CHUNKS.has(type)) {
      out.keep(at, end);
      at = end;
      if (type === 'IEND') break;
      continue;
    }
    const data = bytes.subarray(at + 8, end - 4);
    if (crc32(bytes.subarray(at + 4, end - 4)) !== bytes.readUInt32BE(end - 4)) throw malformed(`the CRC of a ${type} chunk is wrong`);
    if (type === 'eXIf') {
      const orientation = sawExif ? undefined : orientationToKeep(data);
      sawExif = true;
      if (orientation !== undefined) out.replace(pngChunk('eXIf', orientationOnlyTiff(orientation)), at, end);
    }
    at = end;
  }
  return out.result();
}

/**
 * Removes identifying metadata from a JPEG or PNG without re-encoding it: the pixel data is
 * copied byte for byte, the ICC profile kept, and the orientation kept as an EXIF (JPEG
 * APP1, PNG eXIf) holding the Orientation tag alone. Throws a 422 AppError when a
 * metadata segment or chunk is malformed (a length running past the file, a wrong CRC, an
 * EXIF whose first directory does not read).
 *
 * Works in place, so an upload is never held twice: the returned bytes are a view of
 * `bytes`, whose content is overwritten.
 */
export function stripImageMetadata(bytes: Buffer, contentType: ImageContentType): StrippedImage {
  return contentType === 'image/jpeg' ? stripJpeg(bytes) : stripPng(bytes);
}
