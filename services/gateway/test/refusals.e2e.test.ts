import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  TestStack,
  corrupted,
  fixtures,
  multipartBody,
  request,
  truncated,
  uploadImage,
  waitFor,
  type FormPart,
  type HttpResult,
} from '@imagehost/testing';

// Every refusal in the contract's table, against the real processes. No upload here ever
// succeeds, so after each one the bucket, the database and both queues must be empty.

const MAX_UPLOAD_BYTES = 200_000;
const MAX_IMAGE_PIXELS = 1_000_000;
let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start({ env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS) } });
});

afterAll(async () => {
  await stack.stop();
});

afterEach(async () => {
  // Refusals by the ingest worker leave an object for the reaper: wait for it, then demand
  // that nothing at all is left.
  await waitFor(
    'the refused upload to leave nothing behind',
    async () => {
      const [objects, records, jobs] = await Promise.all([stack.objectKeys(), stack.recordCount(), stack.leftoverJobs()]);
      return objects.length === 0 && records === 0 && jobs.length === 0 ? true : undefined;
    },
    15_000,
  );
  for (const service of stack.processes) expect([service.name, service.exit]).toEqual([service.name, undefined]);
});

function expectRefusal(result: HttpResult, status: number, code: string): void {
  expect({ status: result.status, code: result.json?.code }).toEqual({ status, code });
  expect(result.json).toMatchObject({ statusCode: status, code, error: expect.any(String), message: expect.any(String) });
  expect(result.headers.get('content-type')).toMatch(/^application\/json/);
}

async function postForm(parts: FormPart[]): Promise<HttpResult> {
  const { body, contentType } = multipartBody(parts);
  return request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType } });
}

describe('400: the form is wrong', () => {
  it('no image part: a file under another name, or text fields only', async () => {
    const jpeg = await fixtures.baselineJpeg();
    expectRefusal(await postForm([{ name: 'file', filename: 'a.jpg', bytes: jpeg }]), 400, 'IMAGE_PART_MISSING');
    expectRefusal(await postForm([{ name: 'title', value: 'hello' }]), 400, 'IMAGE_PART_MISSING');
    expectRefusal(await postForm([]), 400, 'IMAGE_PART_MISSING');
  });

  it('two files, whether both are named image or not', async () => {
    const jpeg = await fixtures.baselineJpeg();
    expectRefusal(
      await postForm([
        { name: 'image', filename: 'a.jpg', bytes: jpeg },
        { name: 'image', filename: 'b.jpg', bytes: jpeg },
      ]),
      400,
      'TOO_MANY_FILES',
    );
    expectRefusal(
      await postForm([
        { name: 'image', filename: 'a.jpg', bytes: jpeg },
        { name: 'other', filename: 'b.jpg', bytes: jpeg },
      ]),
      400,
      'IMAGE_PART_MISSING',
    );
  });

  it('an empty file', async () => {
    expectRefusal(await postForm([{ name: 'image', filename: 'a.png', bytes: Buffer.alloc(0) }]), 400, 'EMPTY_FILE');
  });

  it('malformed multipart: cut-off framing, garbage, no boundary', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: jpeg }]);
    const cut = body.subarray(0, body.length - 30);
    expectRefusal(await request(stack.url('/'), { method: 'POST', body: cut, headers: { 'content-type': contentType } }), 400, 'MALFORMED_MULTIPART');
    expectRefusal(
      await request(stack.url('/'), { method: 'POST', body: 'this is not multipart at all', headers: { 'content-type': contentType } }),
      400,
      'MALFORMED_MULTIPART',
    );
    const noBoundary = await request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': 'multipart/form-data' } });
    expect(noBoundary.status).toBe(400);
  });
});

describe('415: not multipart, or not a JPEG/PNG', () => {
  it('a body that is not multipart at all', async () => {
    const png = await fixtures.rgbPng();
    expectRefusal(await request(stack.url('/'), { method: 'POST', body: '{"image":"x"}', headers: { 'content-type': 'application/json' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectRefusal(await request(stack.url('/'), { method: 'POST', body: png, headers: { 'content-type': 'image/png' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectRefusal(await request(stack.url('/'), { method: 'POST', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('an extension other than jpg, jpeg or png, even on real PNG bytes', async () => {
    const png = await fixtures.rgbPng();
    for (const filename of ['a.gif', 'a.webp', 'a.svg', 'a.png.html', 'a.exe']) {
      expectRefusal(await uploadImage(stack.baseUrl, png, filename), 415, 'UNSUPPORTED_EXTENSION');
    }
  });

  it('bytes that are not JPEG or PNG, whatever the name says', async () => {
    const cases: [string, Buffer][] = [
      ['gif.png', await fixtures.gif()],
      ['webp.jpg', await fixtures.webp()],
      ['tiff.png', await fixtures.tiff()],
      ['svg.png', await fixtures.svg()],
      ['html.jpg', await fixtures.html()],
      ['text.png', await fixtures.text()],
      ['tiny.png', Buffer.from([0x89, 0x50])],
    ];
    for (const [filename, bytes] of cases) {
      const result = await uploadImage(stack.baseUrl, bytes, filename);
      expect([filename, result.status]).toEqual([filename, 415]);
      expectRefusal(result, 415, 'UNSUPPORTED_IMAGE_TYPE');
    }
  });
});

describe('413: larger than MAX_UPLOAD_BYTES', () => {
  it('refuses an oversized image before storing anything', async () => {
    const big = await fixtures.noisePng(400, 300);
    expect(big.length).toBeGreaterThan(MAX_UPLOAD_BYTES);
    expectRefusal(await uploadImage(stack.baseUrl, big, 'big.png'), 413, 'IMAGE_TOO_LARGE');
  });

  it('refuses a body announced far above the limit without reading it', async () => {
    const huge = Buffer.alloc(MAX_UPLOAD_BYTES * 3, 0x89);
    expectRefusal(await uploadImage(stack.baseUrl, huge, 'huge.png'), 413, 'IMAGE_TOO_LARGE');
  });
});

describe('422: a JPEG or PNG that does not decode, or has too many pixels', () => {
  it('truncated and corrupt images', async () => {
    const jpeg = await fixtures.baselineJpeg(256, 256);
    const png = await fixtures.rgbPng(128, 128);
    const cases: [string, Buffer][] = [
      ['truncated.jpg', truncated(jpeg)],
      ['truncated.png', truncated(png)],
      ['corrupt.jpg', corrupted(jpeg)],
      ['corrupt.png', corrupted(png)],
      ['signature-only.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0])],
    ];
    for (const [filename, bytes] of cases) {
      const result = await uploadImage(stack.baseUrl, bytes, filename);
      expect([filename, result.status]).toEqual([filename, 422]);
      expectRefusal(result, 422, 'IMAGE_UNDECODABLE');
    }
  });

  it('more pixels than MAX_IMAGE_PIXELS', async () => {
    expectRefusal(await uploadImage(stack.baseUrl, await fixtures.flatPng(1001, 1000), 'wide.png'), 422, 'IMAGE_TOO_MANY_PIXELS');
    expectRefusal(await uploadImage(stack.baseUrl, await fixtures.flatPng(1, 1_000_001), 'tall.png'), 422, 'IMAGE_TOO_MANY_PIXELS');
  });
});
