import sharp from 'sharp';

/**
 * Leaves libvips with the JPEG and PNG loaders only. Whatever reaches a worker, a GIF, WebP,
 * HEIF, TIFF, SVG or PDF decoder never runs on it: libvips refuses the operation outright.
 * Process-wide, so it is called once at start-up.
 */
export function restrictDecodersToJpegAndPng(): void {
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: ['VipsForeignLoadJpegBuffer', 'VipsForeignLoadPngBuffer'] });
}
