import { detectImageType } from './image-format.js';

// Structure walkers for the cases where a valid image costs far more to decode (or view) than
// its size or header suggests. They read lengths from untrusted bytes, so every read is
// bounds-checked, every step moves forward (O(n) in the worst case), and malformed input
// ends the walk with what was found so far instead of throwing: telling a broken file
// apart is the decoder's job.

const JPEG_SOS = 0xda;
const JPEG_EOI = 0xd9;

/** Markers that have no length field: TEM, RST0-7 and SOI; 0x00 is a stuffed byte, not a marker. */
export function isStandaloneJpegMarker(marker: number): boolean {
  return marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8);
}

/**
 * The offset of the first marker after a scan's entropy-coded data starting at `at`, or the
 * end of the bytes. Stuffed zeros (0xFF00) and restart markers belong to the data; a run of
 * 0xFF bytes is fill before the marker.
 */
export function skipEntropyData(bytes: Buffer, from: number): number {
  let at = from;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at === -1 || at + 1 >= bytes.length) return bytes.length;
    const next = bytes.readUInt8(at + 1);
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
    else if (next === 0xff) at += 1;
    else return at;
  }
}

/**
 * How many scans (SOS segments) a JPEG has, counted the way libjpeg reads them: from SOI,
 * segment by segment by their length fields, skipping each scan's entropy-coded data, up to
 * EOI or the end of the bytes (a truncated file gives the count so far). Bytes between
 * segments are skipped as libjpeg skips them, so they cannot hide the scans after them.
 * Returns 0 for bytes that do not start with SOI. Never throws.
 */
export function countJpegScans(bytes: Buffer): number {
  if (bytes.length < 2 || bytes.readUInt8(0) !== 0xff || bytes.readUInt8(1) !== 0xd8) return 0;
  let scans = 0;
  let at = 2;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at === -1 || at + 1 >= bytes.length) return scans;
    const marker = bytes.readUInt8(at + 1);
    if (marker === JPEG_EOI) return scans;
    if (marker === 0xff) at += 1;
    else if (isStandaloneJpegMarker(marker)) at += 2;
    else {
      if (at + 4 > bytes.length) return scans;
      const length = bytes.readUInt16BE(at + 2);
      if (length < 2) return scans; // libjpeg refuses it, and a step of 0 would never end
      at += 2 + length;
      if (marker === JPEG_SOS) {
        scans += 1;
        at = skipEntropyData(bytes, at);
      }
    }
  }
}

const PNG_SIGNATURE_BYTES = 8;
// Length, type, and CRC around each chunk's data.
const PNG_CHUNK_OVERHEAD = 12;

/**
 * The frame count an animated PNG declares (acTL's num_frames), or `undefined` for a still
 * PNG. Chunks are walked from the signature until IDAT or IEND: acTL counts only before the
 * image data, as it does for browsers. A chunk cut short by the end of the bytes ends the
 * walk. CRCs are not checked: an acTL with a bad one counts all the same, erring towards a
 * refusal. Never throws.
 */
export function readApngFrameCount(bytes: Buffer): number | undefined {
  if (detectImageType(bytes) !== 'image/png') return undefined;
  for (let at = PNG_SIGNATURE_BYTES; at + PNG_CHUNK_OVERHEAD <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const end = at + PNG_CHUNK_OVERHEAD + length;
    if (type === 'IDAT' || type === 'IEND' || end > bytes.length) return undefined;
    if (type === 'acTL') return length >= 8 ? bytes.readUInt32BE(at + 8) : undefined;
    at = end;
  }
  return undefined;
}
