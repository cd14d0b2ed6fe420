import { describe, expect, it } from '@jest/globals';
import { detectImageType, isAllowedFilename } from './image-format.js';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('detectImageType', () => {
  it('recognises JPEG and PNG signatures', () => {
    expect(detectImageType(hex('ffd8ffe000104a464946'))).toBe('image/jpeg');
    expect(detectImageType(hex('ffd8ffdb'))).toBe('image/jpeg');
    expect(detectImageType(hex('89504e470d0a1a0a0000000d49484452'))).toBe('image/png');
  });

  it('refuses every other format, whatever the name says', () => {
    const others = {
      gif: Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
      webp: Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1'),
      heif: hex('0000001866747970686569630000'),
      tiff: hex('49492a0008000000'),
      bmp: Buffer.from('BM6\x00\x00\x00', 'latin1'),
      svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
      html: Buffer.from('<!doctype html><script>alert(1)</script>'),
      text: Buffer.from('hello'),
      pngPrefixOnly: hex('89504e470d0a1a'),
      jpegTwoBytes: hex('ffd8'),
      empty: Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(others)) expect([name, detectImageType(bytes)]).toEqual([name, undefined]);
  });

  it('reads a view into a larger buffer correctly', () => {
    const big = Buffer.concat([Buffer.from('xxxx'), hex('89504e470d0a1a0a')]);
    expect(detectImageType(big.subarray(4))).toBe('image/png');
  });
});

describe('isAllowedFilename', () => {
  it('accepts jpg, jpeg and png in any case, and names without an extension', () => {
    for (const name of ['a.jpg', 'a.JPG', 'a.jpeg', 'a.JpEg', 'a.png', 'a.PNG', 'photo', '', undefined, '.hidden', 'dir/x.png', 'C:\\x\\y.jpeg']) {
      expect([name, isAllowedFilename(name)]).toEqual([name, true]);
    }
  });

  it('refuses other extensions, including ones hidden behind an allowed one', () => {
    for (const name of ['a.gif', 'a.webp', 'a.svg', 'a.html', 'a.png.exe', 'a.jpg.', 'x.png/evil.gif', 'a.tiff']) {
      expect([name, isAllowedFilename(name)]).toEqual([name, false]);
    }
  });
});
