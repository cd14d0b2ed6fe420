/** The only types this service stores; the bytes decide which one an upload is. */
export type ImageContentType = 'image/jpeg' | 'image/png';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// SOI marker followed by the first byte of the next marker.
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);

/** Bytes needed to tell the types apart. */
export const SIGNATURE_BYTES = PNG_SIGNATURE.length;

/**
 * The type named by the file's leading bytes, or `undefined` when they are neither a JPEG
 * nor a PNG signature (GIF, WebP, HEIF, TIFF, SVG, HTML and text all land here).
 */
export function detectImageType(head: Uint8Array): ImageContentType | undefined {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (bytes.length >= PNG_SIGNATURE.length && bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return 'image/png';
  if (bytes.length >= JPEG_SIGNATURE.length && bytes.subarray(0, JPEG_SIGNATURE.length).equals(JPEG_SIGNATURE)) return 'image/jpeg';
  return undefined;
}

const ALLOWED_EXTENSIONS = new Set(['jpg', 'jpeg', 'png']);

/**
 * Whether a client-sent filename is acceptable: no extension at all, or jpg/jpeg/png in any
 * case. Only the last path segment counts, so `C:\photos\cat.png` and `a/b.png` are fine.
 */
export function isAllowedFilename(filename: string | undefined): boolean {
  if (filename === undefined || filename === '') return true;
  const base = filename.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return true; // "photo" or ".hidden": no extension
  return ALLOWED_EXTENSIONS.has(base.slice(dot + 1).toLowerCase());
}
