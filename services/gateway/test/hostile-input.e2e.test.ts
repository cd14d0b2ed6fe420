import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { TestStack, fixtures, metricSample, multipartBody, pngChunk, request, uploadImage, waitFor, type FormPart, type HttpResult } from '@imagehost/testing';

// What a free public image host gets from hostile or broken clients, against the real
// processes: each is refused with a clear 4xx in JSON (or, where the input is odd but
// harmless, accepted and served safely), nothing is left behind, and the processes live on.

const HEADERS_TIMEOUT_MS = 1500;
const REQUEST_TIMEOUT_MS = 3000;
let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start({
    env: { HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), MAX_UPLOAD_BYTES: String(4 * 1024 * 1024) },
  });
});

afterAll(async () => {
  await stack.stop();
});

function expectRefusal(result: HttpResult, status: number, code: string | readonly string[]): void {
  const codes = typeof code === 'string' ? [code] : code;
  expect(result.status).toBe(status);
  expect(codes).toContain(result.json?.code);
  expect(result.json).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) });
}

async function postForm(parts: FormPart[]): Promise<HttpResult> {
  const { body, contentType } = multipartBody(parts);
  return request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType } });
}

async function gatewayMetric(name: string): Promise<number> {
  const metrics = await request(`${stack.service('gateway').opsUrl}/metrics`);
  return metricSample(metrics.body.toString('utf8'), name);
}

/** Everything a raw TCP client receives until the server closes the connection (bounded). */
function collectUntilClosed(socket: Socket, timeoutMs: number): Promise<{ text: string; closedAfterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - started });
    };
    const timer = setTimeout(() => {
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', done);
  });
}

async function openSocket(): Promise<Socket> {
  const { port } = new URL(stack.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** Writes `piece` every `everyMs` until the socket closes or `maxWrites` were sent. */
function trickle(socket: Socket, piece: string, everyMs: number, maxWrites: number): void {
  let writes = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || writes++ >= maxWrites) {
      clearInterval(timer);
      return;
    }
    socket.write(piece);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

/** A JPEG whose frame header claims `width` × `height`, with the small image's data behind it. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await fixtures.baselineJpeg());
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  expect(sof).toBeGreaterThan(0);
  jpeg.writeUInt16BE(height, sof + 5);
  jpeg.writeUInt16BE(width, sof + 7);
  return jpeg;
}

/** The box header of a HEIC file (sharp cannot encode HEVC): what an iPhone photo starts with. */
function heicHeader(): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic')]);
  return Buffer.concat([ftyp, Buffer.alloc(512, 0)]);
}

describe('refused with a 4xx, leaving nothing behind', () => {
  afterEach(async () => {
    await waitFor(
      'the refused request to leave nothing behind',
      async () => {
        const [objects, records, jobs, uploadMemory] = await Promise.all([
          stack.objectKeys(),
          stack.recordCount(),
          stack.leftoverJobs(),
          gatewayMetric('imagehost_upload_memory_bytes'),
        ]);
        return objects.length === 0 && records === 0 && jobs.length === 0 && uploadMemory === 0 ? true : undefined;
      },
      15_000,
    );
    for (const service of stack.processes) expect([service.name, service.exit]).toEqual([service.name, undefined]);
  });

  it('headers trickled slowly are cut off with a JSON 408 after HEADERS_TIMEOUT_MS', async () => {
    const socket = await openSocket();
    socket.write('POST / HTTP/1.1\r\nHost: imagehost\r\n');
    trickle(socket, 'X-Slow: 1\r\n', 200, 100);
    const { text, closedAfterMs } = await collectUntilClosed(socket, 15_000);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toContain('application/json');
    expect(closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 2500);
  });

  it('a body trickled slowly is cut off with a JSON 408 after REQUEST_TIMEOUT_MS, its memory returned', async () => {
    const jpeg = await fixtures.baselineJpeg();
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'slow.jpg', bytes: jpeg }]);
    const socket = await openSocket();
    socket.write(`POST / HTTP/1.1\r\nHost: imagehost\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 200));
    trickle(socket, 'x', 250, 100);
    const { text, closedAfterMs } = await collectUntilClosed(socket, 20_000);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2500);
  });

  it('a client that aborts mid-upload leaves nothing, and the next upload works', async () => {
    const noise = await fixtures.noisePng(600, 600);
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'abort.png', bytes: noise }]);
    const socket = await openSocket();
    socket.write(`POST / HTTP/1.1\r\nHost: imagehost\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, Math.floor(body.length / 2)));
    await waitFor('the gateway to hold the half upload', async () => ((await gatewayMetric('imagehost_upload_memory_bytes')) > 0 ? true : undefined));
    socket.destroy();
    await waitFor('the upload memory to be returned', async () => ((await gatewayMetric('imagehost_upload_memory_bytes')) === 0 ? true : undefined));
    const next = await uploadImage(stack.baseUrl, await fixtures.onePixelPng(), 'next.png');
    expect(next.status).toBe(201);
    const deleted = await request(stack.url(`/${String(next.json?.image_key)}`), {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delete_key: next.json?.delete_key }),
    });
    expect(deleted.status).toBe(200);
  });

  it('thousands of fields or files', async () => {
    const jpeg = await fixtures.onePixelJpeg();
    const fields: FormPart[] = Array.from({ length: 3000 }, (_, i) => ({ name: `f${i}`, value: 'x' }));
    expectRefusal(await postForm([...fields, { name: 'image', filename: 'a.jpg', bytes: jpeg }]), 400, 'TOO_MANY_PARTS');
    const files: FormPart[] = Array.from({ length: 2000 }, () => ({ name: 'image', filename: 'a.jpg', bytes: jpeg }));
    expectRefusal(await postForm(files), 400, ['TOO_MANY_FILES', 'TOO_MANY_PARTS']);
  });

  it('a field or a file part named __proto__ or constructor', async () => {
    const jpeg = await fixtures.onePixelJpeg();
    const image: FormPart = { name: 'image', filename: 'a.jpg', bytes: jpeg };
    expectRefusal(await postForm([{ name: '__proto__', value: '{"polluted":true}' }, image]), 400, 'MALFORMED_MULTIPART');
    expectRefusal(await postForm([image, { name: '__proto__', filename: 'b.jpg', bytes: jpeg }]), 400, ['MALFORMED_MULTIPART', 'IMAGE_PART_MISSING']);
    expectRefusal(await postForm([{ name: 'constructor', value: 'x' }, image]), 400, 'MALFORMED_MULTIPART');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a filename of 10 KB, or one that is not valid UTF-8', async () => {
    const png = await fixtures.onePixelPng();
    expectRefusal(await postForm([{ name: 'image', filename: `${'a'.repeat(10_000)}.png`, bytes: png }]), 400, 'INVALID_FILENAME');
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'PLACEHOLDER.png', bytes: png }]);
    const at = body.indexOf('PLACEHOLDER');
    const invalidUtf8 = Buffer.concat([body.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), body.subarray(at + 'PLACEHOLDER'.length)]);
    expectRefusal(await request(stack.url('/'), { method: 'POST', body: invalidUtf8, headers: { 'content-type': contentType } }), 400, 'INVALID_FILENAME');
  });

  it('WebP, AVIF, HEIC, TIFF, GIF and SVG bytes under a .png or .jpg name never reach a decoder', async () => {
    const others = [await fixtures.webp(), await fixtures.avif(), heicHeader(), await fixtures.tiff(), await fixtures.gif(), await fixtures.svg()];
    for (const bytes of others) {
      for (const filename of ['photo.png', 'photo.jpg']) {
        expectRefusal(await uploadImage(stack.baseUrl, bytes, filename), 415, 'UNSUPPORTED_IMAGE_TYPE');
      }
    }
    const jobs = await stack.jobCounts();
    expect(Object.values(jobs.ingest).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('a JPEG header claiming 64 250 x 64 250 pixels', async () => {
    const result = await uploadImage(stack.baseUrl, await jpegClaiming(64_250, 64_250), 'huge.jpg');
    expectRefusal(result, 422, 'IMAGE_TOO_MANY_PIXELS');
    expect(String(result.json?.message)).toContain('64250');
  });

  it('a 1 x 1 000 000 image', async () => {
    expectRefusal(await uploadImage(stack.baseUrl, await fixtures.flatPng(1, 1_000_000), 'tall.png'), 422, 'IMAGE_TOO_MANY_PIXELS');
  });

  it('an animated PNG whose frames hold more pixels than MAX_IMAGE_PIXELS', async () => {
    expectRefusal(await uploadImage(stack.baseUrl, await fixtures.apng(1000, 1000, 60), 'anim.png'), 422, 'IMAGE_TOO_MANY_PIXELS');
  });

  it('a JPEG with thousands of progressive scans', async () => {
    expectRefusal(await uploadImage(stack.baseUrl, await fixtures.manyScansJpeg(5000), 'scans.jpg'), 422, 'IMAGE_UNDECODABLE');
  });
});

describe('odd but harmless input, and keys in odd places', () => {
  let image: { key: string; deleteKey: string; updateKey: string };

  beforeAll(async () => {
    const created = await uploadImage(stack.baseUrl, await fixtures.rgbPng(), 'keys.png');
    expect(created.status).toBe(201);
    image = { key: String(created.json?.image_key), deleteKey: String(created.json?.delete_key), updateKey: String(created.json?.update_key) };
  });

  async function stillThere(): Promise<void> {
    const view = await request(stack.url(`/${image.key}`));
    expect(view.status).toBe(200);
    expect(view.body).toEqual(await fixtures.rgbPng());
  }

  it('filenames with quotes or that look like paths only count for their extension', async () => {
    const png = await fixtures.onePixelPng();
    for (const filename of ['say "cheese".png', '../../../etc/passwd.png', 'C:\\Users\\me\\Pictures\\pic.PNG']) {
      const result = await uploadImage(stack.baseUrl, png, filename);
      expect([filename, result.status]).toEqual([filename, 201]);
      const key = String(result.json?.image_key);
      expect(await stack.objectKeys()).toContainEqual(expect.stringMatching(new RegExp(`^images/${key}/[A-Za-z0-9_-]{16}$`)));
      expect((await request(stack.url(`/${key}`))).body).toEqual(png);
    }
  });

  it('a small animated PNG is a PNG: stored and served as image/png', async () => {
    const apng = await fixtures.apng(16, 16, 3);
    const result = await uploadImage(stack.baseUrl, apng, 'small-anim.png');
    expect(result.status).toBe(201);
    const view = await request(stack.url(`/${String(result.json?.image_key)}`));
    expect(view.headers.get('content-type')).toBe('image/png');
    expect(view.body).toEqual(apng);
  });

  it('a PNG/HTML polyglot is only ever served as image/png, with nosniff and a sandboxing CSP', async () => {
    const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
    const png = await fixtures.onePixelPng();
    // In a private chunk, which decoders skip and metadata stripping keeps.
    const polyglot = Buffer.concat([png.subarray(0, -12), pngChunk('prVt', html), png.subarray(-12)]);
    const result = await uploadImage(stack.baseUrl, polyglot, 'page.html.png');
    expect(result.status).toBe(201);
    const view = await request(stack.url(`/${String(result.json?.image_key)}`), { headers: { accept: 'text/html' } });
    expect(view.status).toBe(200);
    expect(view.headers.get('content-type')).toBe('image/png');
    expect(view.headers.get('x-content-type-options')).toBe('nosniff');
    expect(view.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(view.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect(view.body).toEqual(polyglot);

    // After the end of the image, the HTML is not even stored: nothing follows IEND once stripped.
    const appended = await uploadImage(stack.baseUrl, Buffer.concat([png, html]), 'page.html.png');
    expect(appended.status).toBe(201);
    expect((await request(stack.url(`/${String(appended.json?.image_key)}`))).body).toEqual(png);
  });

  it('image keys of 1 byte and of 10 KB are unknown images, in JSON', async () => {
    for (const key of ['a', 'k'.repeat(10_000)]) {
      for (const method of ['GET', 'PATCH', 'DELETE']) {
        const result = await request(stack.url(`/${key}`), { method });
        expectRefusal(result, 404, 'IMAGE_NOT_FOUND');
      }
    }
  });

  it('capability keys of 1 byte and of 10 KB are wrong keys, changing nothing', async () => {
    for (const key of ['x', 'x'.repeat(10_000)]) {
      const asBody = await request(stack.url(`/${image.key}`), {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ delete_key: key }),
      });
      expectRefusal(asBody, 403, 'KEY_INVALID');
      expectRefusal(await request(stack.url(`/${image.key}`), { method: 'DELETE', headers: { 'x-delete-key': key } }), 403, 'KEY_INVALID');
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.onePixelPng() }]);
      const patch = await request(stack.url(`/${image.key}`), { method: 'PATCH', body, headers: { 'content-type': contentType, 'x-update-key': key } });
      expectRefusal(patch, 403, 'KEY_INVALID');
    }
    await stillThere();
  });

  it('keys in the query string are not taken (and not logged)', async () => {
    const deleteInQuery = await request(stack.url(`/${image.key}?delete_key=${image.deleteKey}`), { method: 'DELETE' });
    expectRefusal(deleteInQuery, 401, 'KEY_MISSING');
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'b.png', bytes: await fixtures.onePixelPng() }]);
    const patchInQuery = await request(stack.url(`/${image.key}?update_key=${image.updateKey}`), {
      method: 'PATCH',
      body,
      headers: { 'content-type': contentType },
    });
    expectRefusal(patchInQuery, 401, 'KEY_MISSING');
    await stillThere();
    const logged = stack.processes.flatMap((p) => p.lines).filter((line) => line.includes(image.deleteKey) || line.includes(image.updateKey));
    expect(logged).toEqual([]);
  });

  it('JSON operator objects, lists and numbers in place of keys are malformed bodies', async () => {
    for (const deleteKey of [{ $ne: '' }, { $gt: '' }, { $regex: '.*' }, [image.deleteKey], 42, null, true]) {
      const result = await request(stack.url(`/${image.key}`), {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ delete_key: deleteKey }),
      });
      expect([JSON.stringify(deleteKey), result.status]).toEqual([JSON.stringify(deleteKey), 400]);
    }
    expectRefusal(
      await request(stack.url(`/${image.key}`), { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"delete_key": {"$ne": ' }),
      400,
      ['MALFORMED_BODY', 'BAD_REQUEST'],
    );
    await stillThere();
  });
});
