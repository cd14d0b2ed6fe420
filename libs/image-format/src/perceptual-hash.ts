import sharp from 'sharp';

/** Bits in a perceptual hash: a 9×8 grey thumbnail gives 8 comparisons per row, 8 rows. */
export const PERCEPTUAL_HASH_BITS = 64;

/**
 * The difference hash (dHash) of an image: each bit says whether a pixel of a 9×8 grey
 * thumbnail is brighter than its right neighbour. It survives re-encoding, resizing and
 * metadata stripping, which change bytes but not the picture's gradients; compare two with
 * `hammingDistance`. EXIF orientation is applied first, so a rotated-by-flag copy matches.
 * A transparent image is hashed as seen on white, as most converters save it as a JPEG.
 * Returned as 16 lower-case hex digits (a stable string to store and index).
 */
export async function perceptualHash(image: Buffer | Uint8Array): Promise<string> {
  const { data } = await sharp(image, { failOn: 'none' })
    .rotate()
    // Without it the hash follows whatever colour lies hidden under transparent pixels, not
    // the picture, and a cut-out PNG missed its own JPEG copy (bench/README.md#perceptual-hash).
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(9, 8, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let hash = 0n;
  for (let row = 0; row < 8; row += 1) {
    for (let column = 0; column < 8; column += 1) {
      const left = data[row * 9 + column] ?? 0;
      const right = data[row * 9 + column + 1] ?? 0;
      hash = (hash << 1n) | (left > right ? 1n : 0n);
    }
  }
  return hash.toString(16).padStart(PERCEPTUAL_HASH_BITS / 4, '0');
}

/** How many of the 64 bits differ between two hashes from `perceptualHash`. */
export function hammingDistance(a: string, b: string): number {
  let difference = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let bits = 0;
  while (difference !== 0n) {
    difference &= difference - 1n;
    bits += 1;
  }
  return bits;
}
