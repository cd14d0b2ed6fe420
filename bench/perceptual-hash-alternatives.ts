import sharp from 'sharp';

// A second perceptual hash to measure beside the library's dHash: the DCT hash ("pHash")
// as the imagehash Python package computes it. Kept in the benchmark: the library keeps
// one algorithm, chosen from these figures.

const SIDE = 32;
const LOW = 8;

/** cos(π·k·(2n+1) / 2N) for the 8 lowest frequencies k over the 32 samples n. */
const COSINES = Array.from({ length: LOW }, (_, k) => Float64Array.from({ length: SIDE }, (_, n) => Math.cos((Math.PI * k * (2 * n + 1)) / (2 * SIDE))));

/**
 * The DCT hash of an image: a 32×32 grey thumbnail, its 2-D DCT-II, and one bit per
 * coefficient of the 8×8 lowest frequencies saying whether it lies above their median.
 * Same thumbnail pipeline as the library's dHash (EXIF orientation applied, transparency on white). 16 hex digits.
 */
export async function dctHash(image: Buffer | Uint8Array): Promise<string> {
  const { data } = await sharp(image, { failOn: 'none' })
    .rotate()
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(SIDE, SIDE, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Rows first (only the 8 low frequencies of each row are needed), then columns.
  const rows = new Float64Array(SIDE * LOW);
  for (let y = 0; y < SIDE; y += 1) {
    for (let k = 0; k < LOW; k += 1) {
      const cos = COSINES[k] as Float64Array;
      let sum = 0;
      for (let x = 0; x < SIDE; x += 1) sum += (data[y * SIDE + x] ?? 0) * (cos[x] ?? 0);
      rows[y * LOW + k] = sum;
    }
  }
  const coefficients = new Float64Array(LOW * LOW);
  for (let ky = 0; ky < LOW; ky += 1) {
    const cos = COSINES[ky] as Float64Array;
    for (let kx = 0; kx < LOW; kx += 1) {
      let sum = 0;
      for (let y = 0; y < SIDE; y += 1) sum += (rows[y * LOW + kx] ?? 0) * (cos[y] ?? 0);
      coefficients[ky * LOW + kx] = sum;
    }
  }
  const sorted = Float64Array.from(coefficients).sort();
  const median = ((sorted[31] ?? 0) + (sorted[32] ?? 0)) / 2;
  let hash = 0n;
  for (const value of coefficients) hash = (hash << 1n) | (value > median ? 1n : 0n);
  return hash.toString(16).padStart(16, '0');
}
