// sharp (libvips) stays out of the gateway, which never decodes pixels: the decoding modules
// are the subpaths `@imagehost/image-format/validate` and `/perceptual`, for the ingest worker.
export { SIGNATURE_BYTES, detectImageType, isAllowedFilename, type ImageContentType } from './image-format.js';
export { stripImageMetadata, type StrippedImage } from './strip-metadata.js';
