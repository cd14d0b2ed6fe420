import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import {
  PHOTO_SECRETS,
  TestStack,
  freePort,
  jpegSegment,
  multipartBody,
  phoneExif,
  phonePhotoJpeg,
  phonePhotoPng,
  pngChunk,
  pngChunkTypes,
  request,
  uploadImage,
  withJpegSegments,
  fixtures,
  type HttpResult,
} from '@imagehost/testing';

// Identifying metadata is stripped before an upload is stored (STRIP_METADATA, on by
// default), losslessly: checked on what the real stack serves, decoded by sharp.

// The only EXIF a stripped file may carry: big-endian TIFF, IFD0 = { Orientation: 6 }.
const ORIENTATION_6_TIFF = Buffer.from('4d4d002a 00000008 0001 0112 0003 00000001 0006 0000 00000000'.replace(/ /g, ''), 'hex');

let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start();
});

afterAll(async () => {
  await stack.stop();
});

interface Answer {
  image_key: string;
  update_key: string;
  bytes: number;
  metadata_bytes_removed: number;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function stored(posted: HttpResult, status = 201): Promise<{ answer: Answer; served: HttpResult }> {
  expect({ status: posted.status, body: posted.json }).toMatchObject({ status });
  const answer = posted.json as unknown as Answer;
  const served = await request(stack.url(`/${answer.image_key}`));
  expect(served.status).toBe(200);
  // What is served is what the answer described: its size, its ETag.
  expect(served.body.length).toBe(answer.bytes);
  expect(served.headers.get('content-length')).toBe(String(answer.bytes));
  expect(served.headers.get('etag')).toBe(`"${sha256(served.body)}"`);
  return { answer, served };
}

async function rawPixels(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).raw().toBuffer();
}

async function patch(imageKey: string, updateKey: string, bytes: Buffer, filename: string): Promise<HttpResult> {
  const { body, contentType } = multipartBody([{ name: 'image', filename, bytes }]);
  return request(stack.url(`/${imageKey}`), { method: 'PATCH', body, headers: { 'content-type': contentType, 'x-update-key': updateKey } });
}

describe('STRIP_METADATA on (the default)', () => {
  it('serves a phone JPEG without GPS, maker note, thumbnail, XMP, IPTC or comments, with its ICC profile, orientation and pixels', async () => {
    const photo = await phonePhotoJpeg();
    const original = await sharp(photo).metadata();
    // The fixture is what it claims to be, as sharp reads it.
    expect(original.exif?.includes(PHOTO_SECRETS.makerNote)).toBe(true);
    expect([original.orientation, original.xmp !== undefined, original.iptc !== undefined, original.icc !== undefined]).toEqual([6, true, true, true]);

    const { answer, served } = await stored(await uploadImage(stack.baseUrl, photo, 'phone.jpg'));
    expect(answer.metadata_bytes_removed).toBe(photo.length - served.body.length);
    expect(answer.metadata_bytes_removed).toBeGreaterThan(0);
    const seen = await sharp(served.body).metadata();
    expect(seen.exif).toEqual(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), ORIENTATION_6_TIFF]));
    expect(seen.orientation).toBe(6);
    expect([seen.xmp, seen.iptc, seen.comments]).toEqual([undefined, undefined, undefined]);
    expect(seen.icc).toEqual(original.icc);
    for (const secret of Object.values(PHOTO_SECRETS)) expect([secret, served.body.includes(secret)]).toEqual([secret, false]);
    expect(served.body.includes('http://ns.adobe.com/xap/1.0/')).toBe(false);
    expect(await rawPixels(served.body)).toEqual(await rawPixels(photo));
    // Nothing of the original is kept anywhere: one object, the stripped one.
    const objects = await stack.objectKeys();
    const [object] = await Promise.all(objects.filter((key) => key.includes(answer.image_key)).map((key) => stack.objects.readObject(key, 1 << 20)));
    expect(object).toEqual(served.body);
  });

  it('serves a PNG without eXIf (but its orientation), tEXt, iTXt, zTXt or tIME, with its iCCP and pixels; PATCH strips too', async () => {
    const first = await stored(await uploadImage(stack.baseUrl, await fixtures.rgbPng(), 'a.png'));
    expect(first.answer.metadata_bytes_removed).toBe(0);

    const photo = await phonePhotoPng();
    const replaced = await patch(first.answer.image_key, first.answer.update_key, photo, 'phone.png');
    const { answer, served } = await stored(replaced, 200);
    expect(answer.metadata_bytes_removed).toBe(photo.length - served.body.length);
    expect(pngChunkTypes(served.body)).toEqual(['IHDR', 'eXIf', 'iCCP', 'pHYs', 'IDAT', 'IEND']);
    expect(served.body.subarray(served.body.indexOf('eXIf') - 4, served.body.indexOf('iCCP') - 4)).toEqual(pngChunk('eXIf', ORIENTATION_6_TIFF));
    const [original, seen] = await Promise.all([sharp(photo).metadata(), sharp(served.body).metadata()]);
    expect(seen.icc).toEqual(original.icc);
    expect(seen.orientation).toBe(6);
    expect(seen.comments).toBeUndefined();
    expect(served.body.includes(PHOTO_SECRETS.pngText) || served.body.includes(PHOTO_SECRETS.make)).toBe(false);
    expect(await rawPixels(served.body)).toEqual(await rawPixels(photo));
  });

  it('refuses a JPEG whose APP1 segment length is corrupt with 422, leaving nothing behind; a PATCH so refused changes nothing', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const exif = jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), phoneExif(6, Buffer.alloc(0))]));
    const runsPast = Buffer.from(exif);
    runsPast.writeUInt16BE(0xfff0, 2);
    const endsInside = Buffer.from(exif);
    endsInside.writeUInt16BE(24, 2);

    const isolated = await TestStack.start();
    try {
      for (const segment of [runsPast, endsInside]) {
        const refused = await uploadImage(isolated.baseUrl, withJpegSegments(jpeg, [segment]), 'broken.jpg');
        expect(refused.status).toBe(422);
        expect(refused.json).toEqual({ statusCode: 422, error: 'Unprocessable Entity', code: 'IMAGE_UNDECODABLE', message: expect.stringContaining('metadata is malformed') });
      }
      expect(await isolated.objectKeys()).toEqual([]);
      expect(await isolated.recordCount()).toBe(0);
      expect(await isolated.leftoverJobs()).toEqual([]);
    } finally {
      await isolated.stop();
    }

    const { answer, served } = await stored(await uploadImage(stack.baseUrl, jpeg, 'a.jpg'));
    const refused = await patch(answer.image_key, answer.update_key, withJpegSegments(jpeg, [runsPast]), 'broken.jpg');
    expect({ status: refused.status, code: refused.json?.code }).toEqual({ status: 422, code: 'IMAGE_UNDECODABLE' });
    const after = await request(stack.url(`/${answer.image_key}`));
    expect(after.body).toEqual(served.body);
    // The update key still works: nothing was switched.
    expect((await patch(answer.image_key, answer.update_key, jpeg, 'a.jpg')).status).toBe(200);
  });
});

describe('STRIP_METADATA=false', () => {
  it('stores and serves every uploaded byte', async () => {
    const port = await freePort();
    await (await stack.startService('gateway', { PORT: String(port), STRIP_METADATA: 'false' })).waitUntilServing();
    const keeping = `http://127.0.0.1:${port}`;
    for (const [photo, filename] of [[await phonePhotoJpeg(), 'phone.jpg'], [await phonePhotoPng(), 'phone.png']] as const) {
      const posted = await uploadImage(keeping, photo, filename);
      expect(posted.status).toBe(201);
      const answer = posted.json as unknown as Answer;
      expect([answer.metadata_bytes_removed, answer.bytes]).toEqual([0, photo.length]);
      const served = await request(`${keeping}/${answer.image_key}`);
      expect(served.body).toEqual(photo);
    }
  });
});
