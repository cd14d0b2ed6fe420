export { SIGNATURE_BYTES, detectImageType, isAllowedFilename, type ImageContentType } from './image-format.js';
export { stripImageMetadata, type StrippedImage } from './strip-metadata.js';
export { PERCEPTUAL_HASH_BITS, dctHash, hammingDistance, perceptualHash, pictureHashes, type PictureHashes } from './perceptual-hash.js';
