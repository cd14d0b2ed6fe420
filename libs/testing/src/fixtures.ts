import { randomBytes } from 'node:crypto';
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

function fromPixels(width: number, height: number, channels: 3 | 4): sharp.Sharp {
  return sharp(gradient(width, height, channels), { raw: { width, height, channels } });
}

export const fixtures = {
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
  /** A PNG of random pixels: incompressible, so its size is close to width × height × 3. */
  noisePng: (width: number, height: number) =>
    sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer(),
  /** A flat PNG: tiny on disk, however many pixels it has. */
  flatPng: (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer(),
  gif: () => fromPixels(8, 8, 3).gif().toBuffer(),
  webp: () => fromPixels(8, 8, 3).webp().toBuffer(),
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
