export { SIGNATURE_BYTES, detectImageType, isAllowedFilename, type ImageContentType } from './image-format.js';
