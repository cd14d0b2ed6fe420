import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { TestStack, corrupted, fixtures, multipartBody, request, truncated, uploadImage, waitFor, type FormPart, type HttpResult } from '@imagehost/testing';

// Refusals against the real processes leave nothing behind: not in the bucket, the database
// or either queue. Which refusal each input gets is decided in one process and tested there
// (the gateway's route tests, the ingest worker's and image-format's); here a refusal from
// every layer — the form, the type, the size, the decode, the pixel limit — runs through
// gateway, worker and reaper, and the backends are then looked at.

const MAX_UPLOAD_BYTES = 200_000;
const MAX_IMAGE_PIXELS = 1_000_000;
let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start({ env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_IMAGE_PIXELS: String(MAX_IMAGE_PIXELS) } });
});

afterAll(async () => {
  await stack.stop();
});

async function postForm(parts: FormPart[]): Promise<HttpResult> {
  const { body, contentType } = multipartBody(parts);
  return request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType } });
}

it('leaves nothing in S3, MongoDB or Redis after refusals by the gateway and by the ingest worker', async () => {
  const jpeg = await fixtures.baselineJpeg(256, 256);
  const png = await fixtures.rgbPng(128, 128);
  const refusals: [string, () => Promise<HttpResult>, number, string][] = [
    ['two files', () => postForm([{ name: 'image', filename: 'a.jpg', bytes: jpeg }, { name: 'image', filename: 'b.jpg', bytes: jpeg }]), 400, 'TOO_MANY_FILES'],
    ['a GIF named .png', async () => uploadImage(stack.baseUrl, await fixtures.gif(), 'gif.png'), 415, 'UNSUPPORTED_IMAGE_TYPE'],
    ['larger than MAX_UPLOAD_BYTES', async () => uploadImage(stack.baseUrl, await fixtures.noisePng(400, 300), 'big.png'), 413, 'IMAGE_TOO_LARGE'],
    ['a truncated JPEG', () => uploadImage(stack.baseUrl, truncated(jpeg), 'truncated.jpg'), 422, 'IMAGE_UNDECODABLE'],
    ['a corrupt PNG', () => uploadImage(stack.baseUrl, corrupted(png), 'corrupt.png'), 422, 'IMAGE_UNDECODABLE'],
    ['more pixels than MAX_IMAGE_PIXELS', async () => uploadImage(stack.baseUrl, await fixtures.flatPng(1001, 1000), 'wide.png'), 422, 'IMAGE_TOO_MANY_PIXELS'],
  ];
  for (const [what, send, status, code] of refusals) {
    const result = await send();
    expect([what, result.status, result.json?.code]).toEqual([what, status, code]);
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
  }

  // The worker's refusals hand their objects to the reaper: wait for it, then demand that
  // nothing at all is left.
  await waitFor(
    'the refused uploads to leave nothing behind',
    async () => {
      const [objects, records, jobs] = await Promise.all([stack.objectKeys(), stack.recordCount(), stack.leftoverJobs()]);
      return objects.length === 0 && records === 0 && jobs.length === 0 ? true : undefined;
    },
    15_000,
  );
  for (const service of stack.processes) expect([service.name, service.exit]).toEqual([service.name, undefined]);
});
