import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

// Real image files for tests, made with sharp (libvips) so each is what a camera or an
// editor would produce. Tests compare the bytes served with these bytes, never with
// anything the service computed.

function gradient(width: number, height: number, channels: 3 | 4): Buffer {
  const pixels = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * channels;
      pixels[at] = (x * 255) / Math.max(1, width - 1);
      pixels[at + 1] = (y * 255) / Math.max(1, height - 1);
      pixels[at + 2] = ((x + y) * 127) / Math.max(1, width + height - 2);
      if (channels === 4) pixels[at + 3] = 128 + ((x * 127) / Math.max(1, width - 1));
    }
  }
  return pixels;
}

function fromPixels(width: number, height: number, channels: 3 | 4): ReturnType<typeof sharp> {
  return sharp(gradient(width, height, channels), { raw: { width, height, channels } });
}

// A JPEG decoder-CPU bomb built on a real progressive JPEG (the "EOB run" issue in
// libjpeg-turbo's "Two Issues with the JPEG Standard"): extra first-pass AC scans of the luma
// component whose data is nothing but end-of-band runs, so each costs a few bytes yet makes
// libjpeg visit every luma block again. Coefficients in a run are left as they are, so the
// image and its pixels stay exactly those of the original.
const SCANS_OF_SHARP_PROGRESSIVE = 10; // libjpeg's standard progression for colour
// AC table 0 with the 15 end-of-band-run symbols (runs of 2^r blocks, r = 0..14), all 4 bits
// long, so symbol r has the code r.
const EOB_RUN_TABLE = Buffer.from([0xff, 0xc4, 0x00, 0x22, 0x10, 0, 0, 0, 15, ...Array<number>(12).fill(0), ...Array.from({ length: 15 }, (_, r) => r << 4)]);
// One component (id 1: luma, as libjpeg numbers it), AC table 0, coefficients 1-63, Ah = Al = 0.
// Repeating a first pass is accepted once the refinements have brought every coefficient to full precision.
const LUMA_AC_SCAN_HEADER = Buffer.from([0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3f, 0x00]);

/** Entropy-coded data covering `blocks` blocks with end-of-band runs (at most 32767 blocks each). */
function endOfBandRuns(blocks: number): Buffer {
  let bits = '';
  for (let left = blocks; left > 0; ) {
    const run = Math.min(left, 0x7fff);
    const r = 31 - Math.clz32(run);
    bits += r.toString(2).padStart(4, '0') + (r === 0 ? '' : (run - 2 ** r).toString(2).padStart(r, '0'));
    left -= run;
  }
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '1');
  const bytes: number[] = [];
  for (let at = 0; at < bits.length; at += 8) {
    const byte = parseInt(bits.slice(at, at + 8), 2);
    bytes.push(...(byte === 0xff ? [0xff, 0x00] : [byte])); // stuffed, or it would read as a marker
  }
  return Buffer.from(bytes);
}

async function manyScansJpeg(scans: number, width = 64, height = 48): Promise<Buffer> {
  if (scans < SCANS_OF_SHARP_PROGRESSIVE) throw new RangeError(`a progressive JPEG from sharp already has ${SCANS_OF_SHARP_PROGRESSIVE} scans`);
  const jpeg = await fromPixels(width, height, 3).jpeg({ progressive: true }).toBuffer();
  // Luma is never subsampled: one block per 8 x 8 pixels.
  const scan = Buffer.concat([LUMA_AC_SCAN_HEADER, endOfBandRuns(Math.ceil(width / 8) * Math.ceil(height / 8))]);
  const endOfImage = jpeg.subarray(-2);
  return Buffer.concat([jpeg.subarray(0, -2), EOB_RUN_TABLE, ...Array<Buffer>(scans - SCANS_OF_SHARP_PROGRESSIVE).fill(scan), endOfImage]);
}

/** One PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

function uint32s(...values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeUInt32BE(value, index * 4));
  return bytes;
}

/** The chunks of a PNG, in order, as [type, data]. */
function pngChunks(png: Buffer): [string, Buffer][] {
  const chunks: [string, Buffer][] = [];
  for (let at = 8; at < png.length; at += 12 + png.readUInt32BE(at)) {
    chunks.push([png.toString('latin1', at + 4, at + 8), png.subarray(at + 8, at + 8 + png.readUInt32BE(at))]);
  }
  return chunks;
}

/** fcTL: frame `sequence` covers the whole canvas, shows for 1/10 s, no disposal, no blending. */
function frameControl(sequence: number, width: number, height: number): Buffer {
  return pngChunk('fcTL', Buffer.concat([uint32s(sequence, width, height, 0, 0), Buffer.from([0, 1, 0, 10, 0, 0])]));
}

/**
 * An animated PNG of `frames` frames, all the same flat picture (so even many large frames take
 * few bytes, as a hostile file's would): the PNG sharp writes, with acTL and the first frame's
 * fcTL before its IDAT (so the still image is the first frame), then fcTL + fdAT for each
 * further frame, numbered in one sequence as the APNG specification requires.
 */
async function apng(width: number, height: number, frames: number): Promise<Buffer> {
  const png = await sharp({ create: { width, height, channels: 4, background: { r: 200, g: 40, b: 90, alpha: 0.5 } } }).png().toBuffer();
  const chunks = pngChunks(png);
  const header = chunks.filter(([type]) => type !== 'IDAT' && type !== 'IEND').map(([type, data]) => pngChunk(type, data));
  const imageData = Buffer.concat(chunks.filter(([type]) => type === 'IDAT').map(([, data]) => data));
  const furtherFrames = Array.from({ length: frames - 1 }, (_, index) => [
    frameControl(1 + 2 * index, width, height),
    pngChunk('fdAT', Buffer.concat([uint32s(2 + 2 * index), imageData])),
  ]);
  return Buffer.concat([
    png.subarray(0, 8),
    ...header,
    pngChunk('acTL', uint32s(frames, 0)),
    frameControl(0, width, height),
    pngChunk('IDAT', imageData),
    ...furtherFrames.flat(),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A photo-like JPEG: smooth gradients and a few shapes, different for each seed, so its
 * perceptual hash is not noise and two seeds give unrelated pictures.
 */
function scene(seed: number, width = 640, height = 480): Promise<Buffer> {
  const shapes = Array.from({ length: 6 }, (_, index) => {
    const x = (seed * 97 + index * 131) % width;
    const y = (seed * 53 + index * 71) % height;
    const r = 30 + ((seed + index * 17) % 90);
    const shade = (seed * 37 + index * 59) % 256;
    return `<circle cx="${x}" cy="${y}" r="${r}" fill="rgb(${shade},${255 - shade},${(shade * 3) % 256})"/>`;
  }).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="rgb(${(seed * 11) % 256},40,90)"/><stop offset="1" stop-color="rgb(20,${(seed * 29) % 256},200)"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>${shapes}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
}

export const fixtures = {
  scene,
  baselineJpeg: (width = 64, height = 48) => fromPixels(width, height, 3).jpeg({ quality: 85 }).toBuffer(),
  progressiveJpeg: (width = 64, height = 48) => fromPixels(width, height, 3).jpeg({ progressive: true }).toBuffer(),
  cmykJpeg: (width = 40, height = 30) => fromPixels(width, height, 3).toColourspace('cmyk').jpeg().toBuffer(),
  rgbPng: (width = 64, height = 48) => fromPixels(width, height, 3).png().toBuffer(),
  rgbaPng: (width = 64, height = 48) => fromPixels(width, height, 4).png().toBuffer(),
  sixteenBitPng: (width = 32, height = 24) => fromPixels(width, height, 3).toColourspace('rgb16').png().toBuffer(),
  greyPng: (width = 20, height = 20) => fromPixels(width, height, 3).toColourspace('b-w').png().toBuffer(),
  palettePng: (width = 20, height = 20) => fromPixels(width, height, 3).png({ palette: true }).toBuffer(),
  onePixelPng: () => fromPixels(1, 1, 4).png().toBuffer(),
  onePixelJpeg: () => fromPixels(1, 1, 3).jpeg().toBuffer(),
  /** A valid progressive JPEG of `scans` scans (at least 10) that costs libjpeg a pass over every luma block per scan. */
  manyScansJpeg,
  /** An animated PNG of `frames` identical frames; decoders without APNG support see the first frame. */
  apng,
  /** A PNG of random pixels: incompressible, so its size is close to width × height × 3. */
  noisePng: (width: number, height: number) =>
    sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer(),
  /** A flat PNG: tiny on disk, however many pixels it has. */
  flatPng: (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer(),
  gif: () => fromPixels(8, 8, 3).gif().toBuffer(),
  webp: () => fromPixels(8, 8, 3).webp().toBuffer(),
  /** AVIF: an AV1 image in a HEIF container (what HEIF/HEIC files look like from the outside). */
  avif: () => fromPixels(8, 8, 3).avif().toBuffer(),
  tiff: () => fromPixels(8, 8, 3).tiff().toBuffer(),
  svg: async () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'),
  html: async () => Buffer.from('<!doctype html><html><script>alert(document.domain)</script></html>'),
  text: async () => Buffer.from('just some text, not an image\n'),
};

/** The first `keep` bytes of a real image: a valid signature, then nothing. */
export function truncated(bytes: Buffer, keep = Math.floor(bytes.length / 2)): Buffer {
  return Buffer.from(bytes.subarray(0, keep));
}

/** A copy with a run of bytes in the middle overwritten (a corrupt body with a valid header). */
export function corrupted(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  const from = Math.floor(copy.length * 0.4);
  copy.fill(0xff, from, from + Math.min(64, Math.floor(copy.length * 0.2)));
  return copy;
}
