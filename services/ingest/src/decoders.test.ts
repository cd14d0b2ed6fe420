import { afterEach, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { fixtures } from '@imagehost/testing';
import { restrictDecodersToJpegAndPng } from './decoders.js';

describe('restrictDecodersToJpegAndPng', () => {
  // The restriction is process-wide libvips state that outlives this file in a Jest worker:
  // undo it, so a later test file can still decode GIF or WebP whatever the order.
  afterEach(() => {
    sharp.unblock({ operation: ['VipsForeignLoad'] });
  });

  it('leaves libvips unable to load anything but JPEG and PNG', async () => {
    const gif = await fixtures.gif();
    const webp = await fixtures.webp();
    const png = await fixtures.rgbPng();
    await expect(sharp(gif).metadata()).resolves.toMatchObject({ format: 'gif' });
    restrictDecodersToJpegAndPng();
    await expect(sharp(gif).metadata()).rejects.toThrow();
    await expect(sharp(webp).metadata()).rejects.toThrow();
    await expect(sharp(png).metadata()).resolves.toMatchObject({ format: 'png' });
  });

  it('is undone after each test', async () => {
    await expect(sharp(await fixtures.gif()).metadata()).resolves.toMatchObject({ format: 'gif' });
    await expect(sharp(await fixtures.webp()).metadata()).resolves.toMatchObject({ format: 'webp' });
  });
});
