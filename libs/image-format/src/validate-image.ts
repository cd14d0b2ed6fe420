import sharp from 'sharp';
import { AppError } from '@imagehost/errors';
import { detectImageType, type ImageContentType } from './image-format.js';

export interface ValidatedImage {
  readonly contentType: ImageContentType;
  readonly width: number;
  readonly height: number;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Imported as `@imagehost/image-format/validate`, apart from the signature checks, so the
// gateway (which never decodes pixels) does not load sharp.

/**
 * Checks that `bytes` are a whole, decodable JPEG or PNG within the pixel limit. The limit is
 * checked from the header before any pixel is decoded; then the full image is decoded (and
 * discarded) so truncated or corrupt data is caught. Refusals are AppErrors: 415 for a
 * type that is not JPEG/PNG, 422 for one that does not decode or is too large.
 */
export async function validateImage(bytes: Buffer, limits: { maxImagePixels: number }): Promise<ValidatedImage> {
  const contentType = detectImageType(bytes);
  if (contentType === undefined) throw new AppError('UNSUPPORTED_IMAGE_TYPE', 'the bytes are neither a JPEG nor a PNG');

  // `failOn: 'warning'`: libjpeg reports corrupt entropy-coded data only as a warning, and
  // such an image shows as grey smears. Bytes after the end marker, which some cameras
  // write, raise no warning and stay accepted.
  const options = { limitInputPixels: limits.maxImagePixels, failOn: 'warning', sequentialRead: true } as const;
  let metadata: sharp.Metadata;
  try {
    // Header only; the limit is checked below so the refusal can say what was exceeded.
    metadata = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', `the image header does not decode: ${reasonOf(error)}`);
  }
  const expectedFormat = contentType === 'image/png' ? 'png' : 'jpeg';
  if (metadata.format !== expectedFormat) {
    throw new AppError('IMAGE_UNDECODABLE', `the signature says ${expectedFormat} but the decoder read ${String(metadata.format)}`);
  }
  const { width, height } = metadata;
  if (width === undefined || height === undefined || width < 1 || height < 1) {
    throw new AppError('IMAGE_UNDECODABLE', 'the image has no dimensions');
  }
  if (width * height > limits.maxImagePixels) {
    throw new AppError('IMAGE_TOO_MANY_PIXELS', `${width} x ${height} pixels exceed the limit of ${limits.maxImagePixels}`);
  }
  try {
    // Decodes every pixel; stats() streams through the image without holding it all.
    await sharp(bytes, options).stats();
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', `the image does not decode: ${reasonOf(error)}`);
  }
  return { contentType, width, height };
}
