import sharp, { type Sharp } from 'sharp';

/** Bits in a perceptual hash: a 9×8 grey thumbnail gives 8 comparisons per row, 8 rows. */
export const PERCEPTUAL_HASH_BITS = 64;

/** A picture's two perceptual hashes, each 16 lower-case hex digits. */
export interface PictureHashes {
  /** The difference hash (`perceptualHash`). */
  readonly dHash: string;
  /** The DCT hash (`dctHash`). */
  readonly pHash: string;
}

/**
 * The picture as a grey thumbnail: EXIF orientation applied, so a rotated-by-flag copy
 * matches, and transparency seen on white, as most converters save it as a JPEG.
 */
function greyThumbnail(image: Sharp, width: number, height: number): Promise<Buffer> {
  return (
    image
      .rotate()
      // Without it the hash follows whatever colour lies hidden under transparent pixels, not
      // the picture, and a cut-out PNG missed its own JPEG copy (bench/README.md#perceptual-hash).
      .flatten({ background: '#ffffff' })
      .greyscale()
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer()
  );
}

function toHex(hash: bigint): string {
  return hash.toString(16).padStart(PERCEPTUAL_HASH_BITS / 4, '0');
}

function differenceBits(thumbnail: Buffer): string {
  let hash = 0n;
  for (let row = 0; row < 8; row += 1) {
    for (let column = 0; column < 8; column += 1) {
      const left = thumbnail[row * 9 + column] ?? 0;
      const right = thumbnail[row * 9 + column + 1] ?? 0;
      hash = (hash << 1n) | (left > right ? 1n : 0n);
    }
  }
  return toHex(hash);
}

const DCT_SIDE = 32;
const DCT_LOW = 8;

/** cos(π·k·(2n+1) / 2N) for the 8 lowest frequencies k over the 32 samples n. */
const COSINES = Array.from({ length: DCT_LOW }, (_, k) => Float64Array.from({ length: DCT_SIDE }, (_, n) => Math.cos((Math.PI * k * (2 * n + 1)) / (2 * DCT_SIDE))));

function dctBits(thumbnail: Buffer): string {
  // Rows first (only the 8 low frequencies of each row are needed), then columns.
  const rows = new Float64Array(DCT_SIDE * DCT_LOW);
  for (let y = 0; y < DCT_SIDE; y += 1) {
    for (let k = 0; k < DCT_LOW; k += 1) {
      const cos = COSINES[k] as Float64Array;
      let sum = 0;
      for (let x = 0; x < DCT_SIDE; x += 1) sum += (thumbnail[y * DCT_SIDE + x] ?? 0) * (cos[x] ?? 0);
      rows[y * DCT_LOW + k] = sum;
    }
  }
  const coefficients = new Float64Array(DCT_LOW * DCT_LOW);
  for (let ky = 0; ky < DCT_LOW; ky += 1) {
    const cos = COSINES[ky] as Float64Array;
    for (let kx = 0; kx < DCT_LOW; kx += 1) {
      let sum = 0;
      for (let y = 0; y < DCT_SIDE; y += 1) sum += (rows[y * DCT_LOW + kx] ?? 0) * (cos[y] ?? 0);
      coefficients[ky * DCT_LOW + kx] = sum;
    }
  }
  // The DC term (the mean brightness) takes part in the median and the bits, as imagehash
  // computes it: the benchmark's figures were measured so.
  const sorted = Float64Array.from(coefficients).sort();
  const median = ((sorted[31] ?? 0) + (sorted[32] ?? 0)) / 2;
  let hash = 0n;
  for (const value of coefficients) hash = (hash << 1n) | (value > median ? 1n : 0n);
  return toHex(hash);
}

function decoder(image: Buffer | Uint8Array): Sharp {
  return sharp(image, { failOn: 'none' });
}

/**
 * The difference hash (dHash) of an image: each bit says whether a pixel of a 9×8 grey
 * thumbnail is brighter than its right neighbour. It survives re-encoding, resizing and
 * metadata stripping, which change bytes but not the picture's gradients; compare two with
 * `hammingDistance`. EXIF orientation is applied first, so a rotated-by-flag copy matches.
 * A transparent image is hashed as seen on white, as most converters save it as a JPEG.
 * Returned as 16 lower-case hex digits (a stable string to store and index).
 */
export async function perceptualHash(image: Buffer | Uint8Array): Promise<string> {
  return differenceBits(await greyThumbnail(decoder(image), 9, 8));
}

/**
 * The DCT hash (pHash) of an image, as the imagehash Python package computes it: a 32×32
 * grey thumbnail (same orientation and transparency handling as `perceptualHash`), its 2-D
 * DCT-II, and one bit per coefficient of the 8×8 lowest frequencies saying whether it lies
 * above their median. Independent of the dHash's gradients, so requiring both to match cuts
 * unrelated pictures refused by mistake (docs/moderation.md#perceptual-matching-what-it-catches-and-what-it-costs).
 * 16 lower-case hex digits.
 */
export async function dctHash(image: Buffer | Uint8Array): Promise<string> {
  return dctBits(await greyThumbnail(decoder(image), DCT_SIDE, DCT_SIDE));
}

/**
 * Both perceptual hashes of an image, from one sharp input: the same values as
 * `perceptualHash` and `dctHash`. Each thumbnail is its own libvips pipeline (a JPEG is
 * shrunk while decoding, to each size), so the dHash stays bit for bit what older records hold.
 */
export async function pictureHashes(image: Buffer | Uint8Array): Promise<PictureHashes> {
  const input = decoder(image);
  const [small, large] = await Promise.all([greyThumbnail(input.clone(), 9, 8), greyThumbnail(input.clone(), DCT_SIDE, DCT_SIDE)]);
  return { dHash: differenceBits(small), pHash: dctBits(large) };
}

/** How many of the 64 bits differ between two hashes from `perceptualHash` (or two from `dctHash`). */
export function hammingDistance(a: string, b: string): number {
  let difference = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let bits = 0;
  while (difference !== 0n) {
    difference &= difference - 1n;
    bits += 1;
  }
  return bits;
}
