import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { fixtures } from '@imagehost/testing';
import { restrictDecodersToJpegAndPng } from './decoders.js';

describe('restrictDecodersToJpegAndPng', () => {
  it('leaves libvips unable to load anything but JPEG and PNG', async () => {
    const gif = await fixtures.gif();
    const webp = await fixtures.webp();
    const png = await fixtures.rgbPng();
    restrictDecodersToJpegAndPng();
    await expect(sharp(gif).metadata()).rejects.toThrow();
    await expect(sharp(webp).metadata()).rejects.toThrow();
    await expect(sharp(png).metadata()).resolves.toMatchObject({ format: 'png' });
  });
});
