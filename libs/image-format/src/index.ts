export { SIGNATURE_BYTES, detectImageType, isAllowedFilename, type ImageContentType } from './image-format.js';
export { stripImageMetadata, type StrippedImage } from './strip-metadata.js';
