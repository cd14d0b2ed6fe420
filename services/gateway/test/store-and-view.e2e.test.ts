import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestStack, fixtures, pngChunk, request, uploadImage, waitFor, type HttpResult } from '@imagehost/testing';

// The real gateway, ingest and reaper processes, driven over HTTP.

const MAX_UPLOAD_BYTES = 300_000;
let stack: TestStack;

beforeAll(async () => {
  // Versions up to 16 KiB are served from the gateway's cache, larger ones streamed from S3:
  // the fixtures below cross that line, so both read paths are exercised.
  stack = await TestStack.start({ env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), VERSION_CACHE_MAX_ITEM_BYTES: '16384' } });
});

afterAll(async () => {
  await stack.stop();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function stored(result: HttpResult): { image_key: string; delete_key: string; update_key: string } {
  expect(result.status).toBe(201);
  const json = result.json as { image_key: string; delete_key: string; update_key: string };
  return json;
}

describe('POST / then GET', () => {
  const kinds: [string, () => Promise<Buffer>, string, string, number, number][] = [
    ['baseline JPEG', () => fixtures.baselineJpeg(), 'a.jpg', 'image/jpeg', 64, 48],
    ['progressive JPEG', () => fixtures.progressiveJpeg(), 'a.jpeg', 'image/jpeg', 64, 48],
    ['CMYK JPEG', () => fixtures.cmykJpeg(), 'a.JPG', 'image/jpeg', 40, 30],
    ['8-bit RGB PNG', () => fixtures.rgbPng(), 'a.png', 'image/png', 64, 48],
    ['8-bit PNG with alpha', () => fixtures.rgbaPng(), 'a.PNG', 'image/png', 64, 48],
    ['16-bit PNG', () => fixtures.sixteenBitPng(), 'a.Png', 'image/png', 32, 24],
    ['palette PNG', () => fixtures.palettePng(), 'a.png', 'image/png', 20, 20],
    ['1x1 PNG', () => fixtures.onePixelPng(), 'a.png', 'image/png', 1, 1],
    ['1x1 JPEG', () => fixtures.onePixelJpeg(), 'a.jpeg', 'image/jpeg', 1, 1],
  ];

  it.each(kinds)('stores a %s and serves back the exact bytes', async (_kind, make, filename, contentType, width, height) => {
    const bytes = await make();
    const posted = await uploadImage(stack.baseUrl, bytes, filename);
    const body = stored(posted);
    expect(body.image_key).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(body.delete_key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.update_key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.delete_key).not.toBe(body.update_key);
    expect(posted.headers.get('location')).toBe(`/${body.image_key}`);
    expect(posted.json).toMatchObject({ content_type: contentType, width, height, bytes: bytes.length, url: `${stack.baseUrl}/${body.image_key}` });

    // Read-after-write: readable at once.
    const got = await request(stack.url(`/${body.image_key}`));
    expect(got.status).toBe(200);
    expect(got.body.equals(bytes)).toBe(true);
    expect(got.headers.get('content-type')).toBe(contentType);
    expect(got.headers.get('content-length')).toBe(String(bytes.length));
    expect(got.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(got.headers.get('cache-control')).toBe('public, no-cache');
    expect(Date.parse(got.headers.get('last-modified') ?? '')).toBeGreaterThan(Date.now() - 120_000);
  });

  it('takes the type from the bytes, not from the filename', async () => {
    const png = await fixtures.rgbPng();
    const body = stored(await uploadImage(stack.baseUrl, png, 'actually-a-png.jpg'));
    const got = await request(stack.url(`/${body.image_key}`));
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.body.equals(png)).toBe(true);
  });

  it('accepts a file part without a filename or without an extension', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const { multipartBody } = await import('@imagehost/testing');
    for (const filename of [undefined, 'camera-upload']) {
      const { body, contentType } = multipartBody([{ name: 'image', ...(filename === undefined ? {} : { filename }), bytes: jpeg }]);
      const posted = await request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType } });
      const got = await request(stack.url(`/${stored(posted).image_key}`));
      expect(got.body.equals(jpeg)).toBe(true);
    }
  });

  it('accepts an upload of exactly MAX_UPLOAD_BYTES and refuses one byte more, storing nothing for it', async () => {
    const noise = await fixtures.noisePng(400, 300);
    expect(noise.length).toBeGreaterThan(MAX_UPLOAD_BYTES);
    // A private chunk, which decoders skip and metadata stripping keeps, pads a valid PNG to any size above its own.
    const base = await fixtures.noisePng(300, 300);
    expect(base.length).toBeLessThan(MAX_UPLOAD_BYTES);
    const padding = pngChunk('prVt', Buffer.alloc(MAX_UPLOAD_BYTES - base.length - 12));
    const exact = Buffer.concat([base.subarray(0, -12), padding, base.subarray(-12)]);
    const body = stored(await uploadImage(stack.baseUrl, exact, 'big.png'));
    expect((await request(stack.url(`/${body.image_key}`))).body.equals(exact)).toBe(true);

    const objectsBefore = (await stack.objectKeys()).length;
    const recordsBefore = await stack.recordCount();
    const over = Buffer.concat([exact, Buffer.from([0])]);
    const refused = await uploadImage(stack.baseUrl, over, 'big.png');
    expect(refused.status).toBe(413);
    expect(refused.json).toMatchObject({ statusCode: 413, code: 'IMAGE_TOO_LARGE' });
    expect((await stack.objectKeys()).length).toBe(objectsBefore);
    expect(await stack.recordCount()).toBe(recordsBefore);
  });

  it('stores only hashes of the keys: not in MongoDB, not in Redis, not in any log line', async () => {
    const body = stored(await uploadImage(stack.baseUrl, await fixtures.baselineJpeg(), 'secret.jpg'));
    const record = await stack.images.findAny(body.image_key);
    expect(record).toMatchObject({ deleteKeyHash: sha256(Buffer.from(body.delete_key)), updateKeyHash: sha256(Buffer.from(body.update_key)) });
    const serialized = JSON.stringify(record);
    expect(serialized).not.toContain(body.delete_key);
    expect(serialized).not.toContain(body.update_key);
    const logs = stack.processes.flatMap((p) => p.lines).join('\n');
    expect(logs).toContain(body.image_key);
    expect(logs).not.toContain(body.delete_key);
    expect(logs).not.toContain(body.update_key);
    // The finished ingest job was removed; nothing of it (or of the keys) stays in the queue.
    await waitFor('the finished ingest job to be removed', async () => ((await stack.jobCounts()).ingest.completed === 0 ? true : undefined));
  });

  it('works with curl as the README shows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagehost-curl-'));
    const file = join(dir, 'photo.jpg');
    const jpeg = await fixtures.progressiveJpeg(120, 80);
    writeFileSync(file, jpeg);
    const { stdout } = await promisify(execFile)('curl', ['-sS', '-F', `image=@${file}`, `${stack.baseUrl}/`]);
    const body = JSON.parse(stdout) as { image_key: string; content_type: string };
    expect(body.content_type).toBe('image/jpeg');
    const { stdout: fetched } = await promisify(execFile)('curl', ['-sS', `${stack.baseUrl}/${body.image_key}`], { encoding: 'buffer' });
    expect(Buffer.from(fetched).equals(jpeg)).toBe(true);
  });
});

describe('GET and HEAD semantics', () => {
  let imageKey: string;
  let bytes: Buffer;

  beforeAll(async () => {
    bytes = await fixtures.rgbaPng(100, 80);
    imageKey = stored(await uploadImage(stack.baseUrl, bytes, 'x.png')).image_key;
  });

  it('HEAD gives the GET headers without a body', async () => {
    const head = await request(stack.url(`/${imageKey}`), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('content-type')).toBe('image/png');
    expect(head.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers If-None-Match with 304 only when the ETag matches', async () => {
    const etag = `"${sha256(bytes)}"`;
    const notModified = await request(stack.url(`/${imageKey}`), { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect(notModified.headers.get('etag')).toBe(etag);
    const listed = await request(stack.url(`/${imageKey}`), { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(listed.status).toBe(304);
    const changed = await request(stack.url(`/${imageKey}`), { headers: { 'if-none-match': '"something-else"' } });
    expect(changed.status).toBe(200);
    expect(changed.body.equals(bytes)).toBe(true);
    const lastModified = changed.headers.get('last-modified') ?? '';
    expect((await request(stack.url(`/${imageKey}`), { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
  });

  it('serves byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
    const first = await request(stack.url(`/${imageKey}`), { headers: { range: 'bytes=0-99' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-99/${bytes.length}`);
    expect(first.headers.get('content-length')).toBe('100');
    expect(first.body.equals(bytes.subarray(0, 100))).toBe(true);

    const tail = await request(stack.url(`/${imageKey}`), { headers: { range: 'bytes=-50' } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(bytes.subarray(bytes.length - 50))).toBe(true);

    const middle = await request(stack.url(`/${imageKey}`), { headers: { range: `bytes=1000-` } });
    expect(middle.body.equals(bytes.subarray(1000))).toBe(true);

    const beyond = await request(stack.url(`/${imageKey}`), { headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    expect(beyond.json).toMatchObject({ statusCode: 416, code: 'RANGE_NOT_SATISFIABLE' });

    const staleIfRange = await request(stack.url(`/${imageKey}`), { headers: { range: 'bytes=0-9', 'if-range': '"stale"' } });
    expect(staleIfRange.status).toBe(200);
    expect(staleIfRange.body.equals(bytes)).toBe(true);
  });

  it('serves ranges of a cached (small) version too', async () => {
    const small = await fixtures.baselineJpeg();
    expect(small.length).toBeLessThan(16_384);
    const key = stored(await uploadImage(stack.baseUrl, small, 'small.jpg')).image_key;
    expect((await request(stack.url(`/${key}`))).body.equals(small)).toBe(true);
    const part = await request(stack.url(`/${key}`), { headers: { range: 'bytes=10-99' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-99/${small.length}`);
    expect(part.body.equals(small.subarray(10, 100))).toBe(true);
    const tail = await request(stack.url(`/${key}`), { headers: { range: 'bytes=-7' } });
    expect(tail.body.equals(small.subarray(small.length - 7))).toBe(true);
  });

  it('answers 404 in JSON for unknown, malformed and absurdly long keys, on GET and HEAD', async () => {
    for (const key of ['AAAAAAAAAAAAAAAA', 'short', 'has.a.dot.in.it!', 'x'.repeat(10_000), '%00', imageKey.slice(0, 15)]) {
      const got = await request(stack.url(`/${key}`));
      expect([key.slice(0, 20), got.status]).toEqual([key.slice(0, 20), 404]);
      expect(got.json).toMatchObject({ statusCode: 404, error: 'Not Found' });
      const head = await request(stack.url(`/${key}`), { method: 'HEAD' });
      expect(head.status).toBe(404);
    }
  });

  it('serves its OpenAPI description', async () => {
    const doc = await request(stack.url('/openapi.json'));
    expect(doc.status).toBe(200);
    expect(doc.json).toMatchObject({ openapi: '3.1.0' });
    const paths = (doc.json as { paths: Record<string, Record<string, unknown>> }).paths;
    expect(Object.keys(paths['/'] ?? {})).toContain('post');
    expect(Object.keys(paths['/{imageKey}'] ?? {})).toEqual(expect.arrayContaining(['get', 'head']));
  });
});

describe('when ingest is behind', () => {
  it('answers 202 with the keys, and the image appears once a worker ingests it', async () => {
    const slow = await TestStack.start({ services: ['gateway', 'reaper'], env: { INGEST_WAIT_MS: '300' } });
    try {
      const jpeg = await fixtures.baselineJpeg(90, 60);
      const posted = await uploadImage(slow.baseUrl, jpeg, 'later.jpg');
      expect(posted.status).toBe(202);
      expect(posted.json).toMatchObject({ status: 'processing', content_type: 'image/jpeg', bytes: jpeg.length });
      const { image_key: imageKey } = posted.json as { image_key: string };
      expect(posted.headers.get('location')).toBe(`/${imageKey}`);
      expect((await request(slow.url(`/${imageKey}`))).status).toBe(404);
      expect((await slow.jobCounts()).ingest.waiting).toBe(1);

      await slow.startService('ingest');
      const got = await waitFor('the image to be ingested', async () => {
        const result = await request(slow.url(`/${imageKey}`));
        return result.status === 200 ? result : undefined;
      });
      expect(got.body.equals(jpeg)).toBe(true);
      expect(got.headers.get('content-type')).toBe('image/jpeg');
    } finally {
      await slow.stop();
    }
  });

  it('lets many uploads wait for their ingest at once, with no warning on the gateway', async () => {
    const slow = await TestStack.start({ services: ['gateway'], env: { INGEST_WAIT_MS: '1000' } });
    try {
      const jpeg = await fixtures.baselineJpeg(40, 30);
      const answers = await Promise.all(Array.from({ length: 16 }, (_, n) => uploadImage(slow.baseUrl, jpeg, `wait${n}.jpg`)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(16).fill(202));
      expect((await slow.jobCounts()).ingest.waiting).toBe(16);
      // Each waiting upload holds a listener on the queue; sixteen of them are no leak, and an
      // operator reading "possible EventEmitter memory leak" in the logs would think otherwise.
      expect(slow.service('gateway').lines.filter((line) => /warning/i.test(line) && !line.startsWith('{'))).toEqual([]);
    } finally {
      await slow.stop();
    }
  });
});
