import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { AppError, errorMessage } from '@imagehost/errors';
import { detectImageType, type ImageContentType } from './image-format.js';
import { countJpegScans, readApngFrameCount } from './image-structure.js';

export interface ValidatedImage {
  readonly contentType: ImageContentType;
  readonly width: number;
  readonly height: number;
}

/** What an image may cost: pixels (counting every frame of an animation) and the longest side. */
export interface ImageLimits {
  readonly maxImagePixels: number;
  readonly maxImageSide: number;
}

/**
 * The most scans a JPEG may have. libjpeg's standard progressions write 6 scans (grey), 10
 * (colour) and 18 (CMYK), mozjpeg's optimised ones fewer; 100 leaves room for hand-made scan
 * scripts and is the cap LibreOffice puts on libjpeg. The limit matters because each scan
 * makes libjpeg visit every block of its component again, however few bytes the scan takes,
 * so thousands of tiny scans are a decoder-CPU bomb (bench/decisions.md#jpeg-scans).
 */
export const MAX_JPEG_SCANS = 100;

/** Walks the markers only, so a decoder-CPU bomb is refused in O(bytes) before libjpeg sees it. */
function checkJpegScans(bytes: Buffer): void {
  const scans = countJpegScans(bytes);
  if (scans > MAX_JPEG_SCANS) {
    throw new AppError('IMAGE_UNDECODABLE', `the JPEG has ${scans} scans, more than the limit of ${MAX_JPEG_SCANS}`);
  }
}

/**
 * Refuses sizes over the limits. An animated PNG counts every frame: the decoder here reads only
 * the first, but a viewer's browser decodes them all. The side limit keeps out absurd shapes
 * (1 x 1,000,000 is few pixels) that browsers will not draw.
 */
function checkDimensions(bytes: Buffer, width: number, height: number, limits: ImageLimits): void {
  // An acTL declaring 0 frames is invalid; the image still has its own frame.
  const frames = Math.max(1, readApngFrameCount(bytes) ?? 1);
  if (frames * width * height > limits.maxImagePixels) {
    const size = frames === 1 ? `${width} x ${height}` : `${frames} frames of ${width} x ${height}`;
    throw new AppError('IMAGE_TOO_MANY_PIXELS', `${size} pixels exceed the limit of ${limits.maxImagePixels}`);
  }
  if (width > limits.maxImageSide || height > limits.maxImageSide) {
    throw new AppError('IMAGE_TOO_MANY_PIXELS', `${width} x ${height} pixels exceed the side limit of ${limits.maxImageSide}`);
  }
}

/**
 * Past this many pixels, validation keeps one band of the decoded image instead of all: the
 * decoder does the same work and refuses the same damage, but a third of the memory reaches
 * the garbage collector, which costs more than the extra copy only for large images
 * (bench/decisions.md#first-band-only).
 */
export const ONE_BAND_ABOVE_PIXELS = 1_000_000;

/**
 * Decodes every pixel at full size and drops them. At full size, since a JPEG decoded smaller
 * on load misses corrupt data (bench/decisions.md#full-size-decode). Not `stats()`: under
 * concurrent calls it accepted truncated JPEGs (195 of 640 in a measurement of 40 at once),
 * while a decode to pixels refused every one.
 */
async function decodeEveryPixel(bytes: Buffer, pixels: number, options: SharpOptions): Promise<void> {
  const decoder = sharp(bytes, options);
  if (pixels > ONE_BAND_ABOVE_PIXELS) decoder.extractChannel(0);
  await decoder.raw().toBuffer();
}

// Imported as `@imagehost/image-format/validate`, apart from the signature checks, so the
// gateway (which never decodes pixels) does not load sharp.

/**
 * Checks that `bytes` are a whole, decodable JPEG or PNG within the limits. The limits, and a
 * JPEG's scan count, are checked from the structure before any pixel is decoded; then the full
 * image is decoded (and discarded) so truncated or corrupt data is caught. Refusals are
 * AppErrors: 415 for a type that is not JPEG/PNG, 422 for one that does not decode or is too
 * large.
 */
export async function validateImage(bytes: Buffer, limits: ImageLimits): Promise<ValidatedImage> {
  const contentType = detectImageType(bytes);
  if (contentType === undefined) throw new AppError('UNSUPPORTED_IMAGE_TYPE', 'the bytes are neither a JPEG nor a PNG');
  if (contentType === 'image/jpeg') checkJpegScans(bytes);

  // `failOn: 'warning'`: libjpeg reports corrupt entropy-coded data only as a warning, and
  // such an image shows as grey smears. Bytes after the end marker, which some cameras
  // write, raise no warning and stay accepted.
  const options = { limitInputPixels: limits.maxImagePixels, failOn: 'warning', sequentialRead: true } as const;
  let metadata: Metadata;
  try {
    // Header only; the limit is checked below so the refusal can say what was exceeded.
    metadata = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', `the image header does not decode: ${errorMessage(error)}`);
  }
  const expectedFormat = contentType === 'image/png' ? 'png' : 'jpeg';
  if (metadata.format !== expectedFormat) {
    throw new AppError('IMAGE_UNDECODABLE', `the signature says ${expectedFormat} but the decoder read ${String(metadata.format)}`);
  }
  const { width, height } = metadata;
  if (width === undefined || height === undefined || width < 1 || height < 1) {
    throw new AppError('IMAGE_UNDECODABLE', 'the image has no dimensions');
  }
  checkDimensions(bytes, width, height, limits);
  try {
    await decodeEveryPixel(bytes, width * height, options);
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', `the image does not decode: ${errorMessage(error)}`);
  }
  return { contentType, width, height };
}
