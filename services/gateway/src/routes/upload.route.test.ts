import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { AppError } from '@imagehost/errors';
import { hashCapabilityKey } from '@imagehost/keys';
import { PHOTO_SECRETS, fixtures, multipartBody, phonePhotoJpeg, phonePhotoPng, waitFor, type FormPart } from '@imagehost/testing';
import { TEST_START_MS, expectError, partialBody, sharedTestGateway, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// POST / in-process, over fakes: every refusal the gateway decides, the ingest worker's
// answers (scripted) as the gateway passes them on, the success shapes, and what is left in
// storage. What the worker decides about the bytes is tested with the worker.

const MAX_UPLOAD_BYTES = 200_000;
const ENV = { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_IMAGE_PIXELS: '1000000', PUBLIC_BASE_URL: 'https://img.example' };
let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway(ENV);
});

afterEach(async () => {
  await gateway.close();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function postForm(parts: FormPart[]) {
  return gateway.sendForm('POST', '/', multipartBody(parts));
}

function upload(bytes: Buffer, filename = 'photo.jpg') {
  return postForm([{ name: 'image', filename, bytes }]);
}

interface Keys {
  readonly image_key: string;
  readonly delete_key: string;
  readonly update_key: string;
}

describe('201: stored and readable at once', () => {
  const kinds: [string, () => Promise<Buffer>, string, string, number, number][] = [
    ['baseline JPEG', () => fixtures.baselineJpeg(), 'a.jpg', 'image/jpeg', 64, 48],
    ['progressive JPEG', () => fixtures.progressiveJpeg(), 'a.jpeg', 'image/jpeg', 64, 48],
    ['PNG with alpha', () => fixtures.rgbaPng(), 'a.PNG', 'image/png', 64, 48],
    ['1x1 PNG', () => fixtures.onePixelPng(), 'a.Png', 'image/png', 1, 1],
  ];

  it.each(kinds)('a %s: Location, the keys and the facts, then GET serves the exact bytes', async (_kind, make, filename, contentType, width, height) => {
    const bytes = await make();
    gateway.ingest.answerNext({ outcome: 'stored', width, height });
    const posted = await upload(bytes, filename);
    expect(posted.statusCode).toBe(201);
    const body = posted.json<Keys>();
    expect(body).toEqual({
      image_key: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      delete_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      update_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      url: `https://img.example/${body.image_key}`,
      content_type: contentType,
      width,
      height,
      bytes: bytes.length,
      metadata_bytes_removed: 0,
      expires_at: null,
    });
    expect(body.delete_key).not.toBe(body.update_key);
    expect(posted.headers.location).toBe(`/${body.image_key}`);
    expect(posted.headers['cache-control']).toBe('no-store');

    const got = await gateway.request({ method: 'GET', url: `/${body.image_key}` });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(bytes)).toBe(true);
    expect(got.headers['content-type']).toBe(contentType);
    expect(got.headers['last-modified']).toBe(new Date(TEST_START_MS).toUTCString());
  });

  it('stores the bytes once, carrying their ingest job, and only hashes of the keys', async () => {
    const bytes = await fixtures.baselineJpeg();
    const keys = (await upload(bytes)).json<Keys>();
    const [object, ...others] = [...gateway.objects.objects.values()];
    expect(others).toEqual([]);
    expect(object?.bytes.equals(bytes)).toBe(true);
    expect(object?.contentType).toBe('image/jpeg');
    expect(JSON.parse(object?.metadata['ingest-job'] ?? '{}')).toMatchObject({
      kind: 'create',
      imageKey: keys.image_key,
      deleteKeyHash: hashCapabilityKey(keys.delete_key),
      updateKeyHash: hashCapabilityKey(keys.update_key),
      acceptedAt: TEST_START_MS,
    });
    const record = gateway.images.records.get(keys.image_key);
    expect(record).toMatchObject({ sha256: sha256(bytes), deleteKeyHash: hashCapabilityKey(keys.delete_key), deletedAt: null });
    const everythingStored = JSON.stringify([...gateway.images.records.values(), ...gateway.objects.objects.values()]);
    expect(everythingStored).not.toContain(keys.delete_key);
    expect(everythingStored).not.toContain(keys.update_key);
  });

  it('takes the type from the bytes, not from the filename', async () => {
    const png = await fixtures.rgbPng();
    const posted = await upload(png, 'actually-a-png.jpg');
    expect(posted.json()).toMatchObject({ content_type: 'image/png' });
    const got = await gateway.request({ method: 'GET', url: `/${posted.json<Keys>().image_key}` });
    expect(got.headers['content-type']).toBe('image/png');
  });

  it('accepts a file part without a filename, or without an extension', async () => {
    const jpeg = await fixtures.baselineJpeg();
    expect((await postForm([{ name: 'image', bytes: jpeg }])).statusCode).toBe(201);
    expect((await postForm([{ name: 'image', filename: 'camera-upload', bytes: jpeg }])).statusCode).toBe(201);
  });

  it('accepts exactly MAX_UPLOAD_BYTES and refuses one byte more', async () => {
    // Decoders ignore bytes after a PNG's end, so a valid PNG can be padded to any size.
    const base = await fixtures.noisePng(200, 200);
    const exact = Buffer.concat([base, Buffer.alloc(MAX_UPLOAD_BYTES - base.length)]);
    expect((await upload(exact, 'big.png')).statusCode).toBe(201);
    expectError(await upload(Buffer.concat([exact, Buffer.from([0])]), 'big.png'), 413, 'IMAGE_TOO_LARGE');
    expect(gateway.objects.objects.size).toBe(1);
  });
});

describe('202: accepted while ingest is behind', () => {
  it('answers with the keys at once; the image is readable once the worker catches up', async () => {
    gateway.ingest.answer = { outcome: 'pending' };
    const jpeg = await fixtures.baselineJpeg(90, 60);
    const posted = await upload(jpeg, 'later.jpg');
    expect(posted.statusCode).toBe(202);
    const body = posted.json<Keys>();
    expect(body).toEqual({
      image_key: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      delete_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      update_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      url: `https://img.example/${body.image_key}`,
      status: 'processing',
      content_type: 'image/jpeg',
      bytes: jpeg.length,
      metadata_bytes_removed: 0,
      expires_at: null,
    });
    expect(posted.headers.location).toBe(`/${body.image_key}`);
    expectError(await gateway.request({ method: 'GET', url: `/${body.image_key}` }), 404, 'IMAGE_NOT_FOUND');

    gateway.ingest.catchUp();
    const got = await gateway.request({ method: 'GET', url: `/${body.image_key}` });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(jpeg)).toBe(true);
  });
});

describe('metadata: stripped before storing, unless STRIP_METADATA=false', () => {
  it('stores the photo without its metadata and says how many bytes went', async () => {
    const photo = await phonePhotoJpeg();
    const posted = await upload(photo, 'phone.jpg');
    expect(posted.statusCode).toBe(201);
    const [object] = [...gateway.objects.objects.values()];
    const body = posted.json<{ bytes: number; metadata_bytes_removed: number }>();
    expect(body.bytes).toBe(object?.bytes.length);
    expect(body.metadata_bytes_removed).toBe(photo.length - (object?.bytes.length ?? 0));
    for (const secret of Object.values(PHOTO_SECRETS)) expect(object?.bytes.includes(secret)).toBe(false);
  });

  it('refuses malformed metadata with 422 before anything is stored', async () => {
    const photo = await phonePhotoJpeg();
    const broken = Buffer.from(photo);
    broken.writeUInt16BE(0xfff0, broken.indexOf('Exif') - 2); // the APP1 length now runs past the file
    expectError(await upload(broken, 'broken.jpg'), 422, 'IMAGE_UNDECODABLE');
    expect(gateway.objects.objects.size).toBe(0);
  });

  it('keeps every byte with STRIP_METADATA=false', async () => {
    const keeping = await startTestGateway({ ...ENV, STRIP_METADATA: 'false' });
    try {
      const photo = await phonePhotoPng();
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'phone.png', bytes: photo }]);
      const posted = await keeping.sendForm('POST', '/', { body, contentType });
      expect(posted.statusCode).toBe(201);
      expect(posted.json<{ metadata_bytes_removed: number }>().metadata_bytes_removed).toBe(0);
      expect([...keeping.objects.objects.values()].map((object) => object.bytes)).toEqual([photo]);
    } finally {
      await keeping.close();
    }
  });
});

describe('refusals, which leave nothing behind', () => {
  afterEach(() => {
    expect(gateway.objects.objects.size).toBe(0);
    expect(gateway.images.records.size).toBe(0);
    expect(gateway.ingest.queued).toEqual([]);
  });

  describe('400: the form is wrong', () => {
    it('no image part: a file under another name, text fields only, or no part at all', async () => {
      const jpeg = await fixtures.baselineJpeg();
      expectError(await postForm([{ name: 'file', filename: 'a.jpg', bytes: jpeg }]), 400, 'IMAGE_PART_MISSING');
      expectError(await postForm([{ name: 'title', value: 'hello' }]), 400, 'IMAGE_PART_MISSING');
      expectError(await postForm([]), 400, 'IMAGE_PART_MISSING');
    });

    it('two files, whether both are named image or not', async () => {
      const jpeg = await fixtures.baselineJpeg();
      const image: FormPart = { name: 'image', filename: 'a.jpg', bytes: jpeg };
      expectError(await postForm([image, { ...image, filename: 'b.jpg' }]), 400, 'TOO_MANY_FILES');
      expectError(await postForm([image, { name: 'other', filename: 'b.jpg', bytes: jpeg }]), 400, 'IMAGE_PART_MISSING');
    });

    it('an empty file', async () => {
      expectError(await upload(Buffer.alloc(0), 'a.png'), 400, 'EMPTY_FILE');
    });

    it('a filename that is not a name: too long, or control characters', async () => {
      const png = await fixtures.rgbPng();
      expectError(await upload(png, `${'a'.repeat(300)}.png`), 400, 'INVALID_FILENAME');
      expectError(await upload(png, 'a\u0001b.png'), 400, 'INVALID_FILENAME');
    });

    it('a body cut before its closing boundary is malformed, whatever the cut part holds', async () => {
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.png', bytes: await fixtures.gif() }]);
      const cut = body.subarray(0, body.lastIndexOf('\r\n--'));
      expectError(await gateway.sendForm('POST', '/', { body: cut, contentType }), 400, 'MALFORMED_MULTIPART');
    });

    it('malformed multipart: cut-off framing, garbage, no boundary', async () => {
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]);
      expectError(await gateway.sendForm('POST', '/', { body: body.subarray(0, body.length - 30), contentType }), 400, 'MALFORMED_MULTIPART');
      expectError(await gateway.sendForm('POST', '/', { body: Buffer.from('this is not multipart at all'), contentType }), 400, 'MALFORMED_MULTIPART');
      const noBoundary = await gateway.sendForm('POST', '/', { body, contentType: 'multipart/form-data' });
      expect(noBoundary.statusCode).toBe(400);
      expect(noBoundary.json()).toMatchObject({ statusCode: 400, code: expect.any(String) });
    });
  });

  describe('415: not multipart, or not a JPEG/PNG', () => {
    it('a body that is not multipart at all', async () => {
      const png = await fixtures.rgbPng();
      const cases: [string, string | Buffer][] = [
        ['application/json', '{"image":"x"}'],
        ['image/png', png],
        ['application/x-www-form-urlencoded', 'a=b'],
        ['text/plain', 'hello'],
      ];
      for (const [contentType, payload] of cases) {
        const refused = await gateway.request({ method: 'POST', url: '/', payload, headers: { 'content-type': contentType } });
        expect([contentType, refused.statusCode]).toEqual([contentType, 415]);
        expectError(refused, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      expectError(await gateway.request({ method: 'POST', url: '/' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('an extension other than jpg, jpeg or png, even on real PNG bytes', async () => {
      const png = await fixtures.rgbPng();
      for (const filename of ['a.gif', 'a.webp', 'a.svg', 'a.png.html', 'a.exe', 'a.']) {
        const refused = await upload(png, filename);
        expect([filename, refused.statusCode]).toEqual([filename, 415]);
        expectError(refused, 415, 'UNSUPPORTED_EXTENSION');
      }
    });

    it('bytes that are neither JPEG nor PNG, whatever the name says', async () => {
      const cases: [string, Buffer][] = [
        ['gif.png', await fixtures.gif()],
        ['webp.jpg', await fixtures.webp()],
        ['avif.png', await fixtures.avif()],
        ['tiff.png', await fixtures.tiff()],
        ['svg.png', await fixtures.svg()],
        ['html.jpg', await fixtures.html()],
        ['text.png', await fixtures.text()],
        ['tiny.png', Buffer.from([0x89, 0x50])],
      ];
      for (const [filename, bytes] of cases) {
        const refused = await upload(bytes, filename);
        expect([filename, refused.statusCode]).toEqual([filename, 415]);
        expectError(refused, 415, 'UNSUPPORTED_IMAGE_TYPE');
      }
    });
  });

  describe('400 and 503: the Idempotency-Key header', () => {
    it('an empty, short, long or repeated key is refused before anything is stored', async () => {
      const form = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]);
      for (const key of ['', '""', 'too-short', 'k'.repeat(256), '8e03978e-40d5-43e8-bc93-6894a57f9324, 8e03978e-40d5-43e8-bc93-6894a57f9324']) {
        const refused = await gateway.sendForm('POST', '/', form, { 'idempotency-key': key });
        expectError(refused, 400, 'INVALID_IDEMPOTENCY_KEY');
      }
      expect(gateway.objects.objects.size).toBe(0);
    });

    it('the bounds the document states: 16 to 255 characters of the key, quoted or bare', async () => {
      const form = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]);
      const document = (await gateway.request({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, { post?: { parameters?: { in: string; name: string; schema: { pattern?: string } }[] } }> }>();
      const documented = document.paths['/']?.post?.parameters?.find((parameter) => parameter.in === 'header' && parameter.name === 'Idempotency-Key');
      const pattern = new RegExp(documented?.schema.pattern ?? 'not documented', 'u');
      const cases: [string, boolean][] = [
        ['k'.repeat(15), false],
        ['k'.repeat(16), true],
        ['k'.repeat(255), true],
        ['k'.repeat(256), false],
        [`"${'k'.repeat(15)}"`, false],
        [`"${'k'.repeat(16)}"`, true],
        [`"${'\\"'.repeat(255)}"`, true],
        [`"${'k'.repeat(256)}"`, false],
      ];
      for (const [key, accepted] of cases) {
        // Accepted keys go on to the store of answers, absent in-process: 503.
        const answer = await gateway.sendForm('POST', '/', form, { 'idempotency-key': key });
        expect([key.length, pattern.test(key), answer.statusCode]).toEqual([key.length, accepted, accepted ? 503 : 400]);
        expectError(answer, accepted ? 503 : 400, accepted ? 'BACKEND_UNAVAILABLE' : 'INVALID_IDEMPOTENCY_KEY');
      }
      expect(gateway.objects.objects.size).toBe(0);
    });

    it('without the store that keeps the answers (Redis), a POST with a key is 503 and stores nothing', async () => {
      const form = multipartBody([{ name: 'image', filename: 'a.jpg', bytes: await fixtures.baselineJpeg() }]);
      const refused = await gateway.sendForm('POST', '/', form, { 'idempotency-key': '"8e03978e-40d5-43e8-bc93-6894a57f9324"' });
      expectError(refused, 503, 'BACKEND_UNAVAILABLE');
      expect(gateway.objects.objects.size).toBe(0);
    });
  });

  describe('413: larger than MAX_UPLOAD_BYTES', () => {
    it('announced by Content-Length far above the limit: refused before the body is read', async () => {
      expectError(await upload(Buffer.alloc(MAX_UPLOAD_BYTES * 3, 0x89), 'huge.png'), 413, 'IMAGE_TOO_LARGE');
    });

    it('sent without a length: refused once the file part passes the limit', async () => {
      const { body, contentType } = multipartBody([{ name: 'image', filename: 'big.png', bytes: await fixtures.noisePng(400, 300) }]);
      const stream = new PassThrough();
      stream.end(body);
      const refused = await gateway.request({ method: 'POST', url: '/', payload: stream, headers: { 'content-type': contentType } });
      expectError(refused, 413, 'IMAGE_TOO_LARGE');
    });
  });

  describe('503: the backends or the memory budget cannot take it', () => {
    it('the ingest queue is unreachable: refused before the body is read, with Retry-After', async () => {
      gateway.ingest.down = true;
      const refused = await upload(await fixtures.baselineJpeg());
      expectError(refused, 503, 'BACKEND_UNAVAILABLE');
      expect(refused.headers['retry-after']).toBe('5');
    });

    it('the object store is unreachable', async () => {
      gateway.objects.down = true;
      expectError(await upload(await fixtures.baselineJpeg()), 503, 'BACKEND_UNAVAILABLE');
    });
  });
});

describe('the ingest worker’s answers, passed on', () => {
  it.each([
    ['does not decode', new AppError('IMAGE_UNDECODABLE', 'the image does not decode'), 422],
    ['has too many pixels', new AppError('IMAGE_TOO_MANY_PIXELS', 'the image has more pixels than allowed'), 422],
    ['has a key another image took', new AppError('CONFLICT', 'image key taken'), 409],
  ] as const)('an image the worker says %s: its status and code; nothing recorded, the object left to the reaper it was handed to', async (_what, error, status) => {
    gateway.ingest.answerNext({ outcome: 'refused', error });
    expectError(await upload(await fixtures.baselineJpeg()), status, error.code);
    expect(gateway.images.records.size).toBe(0);
    // The gateway does not remove it: the worker handed it to the reaper before it refused.
    expect(gateway.objects.objects.size).toBe(1);
  });

  it('an ingest that failed for good: 503, and the gateway takes its object back (no image may appear later)', async () => {
    gateway.ingest.answerNext({ outcome: 'failed' });
    expectError(await upload(await fixtures.baselineJpeg()), 503, 'BACKEND_UNAVAILABLE');
    expect(gateway.objects.objects.size).toBe(0);
    expect(gateway.images.records.size).toBe(0);
  });
});

/** A POST whose announced body is sent only up to `sent` bytes until `finish` is called. */
function streamedUpload(form: { body: Buffer; contentType: string }, sent: number, remoteAddress?: string) {
  const { stream, taken } = partialBody(form.body.subarray(0, sent));
  const response = gateway.request({
    method: 'POST',
    url: '/',
    payload: stream,
    headers: { 'content-type': form.contentType, 'content-length': String(form.body.length) },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
  return { stream, response, taken, finish: () => stream.end(form.body.subarray(sent)) };
}

async function untilUploadMemory(atLeast: number): Promise<void> {
  await waitFor(`the gateway to hold ${atLeast} upload bytes`, async () => ((await gateway.uploadMemory()) >= atLeast ? true : undefined), 5_000, 5);
}

describe('503 OVERLOADED: the memory budget holds the bytes that arrived', () => {
  beforeEach(async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, UPLOAD_MEMORY_BUDGET_BYTES: String(MAX_UPLOAD_BYTES) });
  });

  it('refuses an upload that does not fit beside the bytes another has sent, then takes the next', async () => {
    const slow = multipartBody([{ name: 'image', filename: 'slow.png', bytes: await fixtures.noisePng(200, 200) }]);
    const other = await fixtures.noisePng(190, 190);
    const sent = slow.body.length - 1000;
    expect(sent + other.length).toBeGreaterThan(MAX_UPLOAD_BYTES);

    const first = streamedUpload(slow, sent);
    await untilUploadMemory(sent - 1000);
    const refused = await upload(other, 'other.png');
    expectError(refused, 503, 'OVERLOADED');
    expect(refused.headers['retry-after']).toBe('2');
    // What the upload-memory alert compares the bytes held with.
    expect(await gateway.metrics()).toContain(`imagehost_upload_memory_limit_bytes ${MAX_UPLOAD_BYTES}\n`);

    first.finish();
    expect((await first.response).statusCode).toBe(201);
    expect(await gateway.uploadMemory()).toBe(0);
    expect((await upload(other, 'other.png')).statusCode).toBe(201);
  });

  it('costs nothing for bytes only announced: a silent upload leaves room for the others', async () => {
    const announced = multipartBody([{ name: 'image', filename: 'announced.png', bytes: await fixtures.noisePng(200, 200) }]);
    const other = await fixtures.noisePng(190, 190);
    expect(announced.body.length + other.length).toBeGreaterThan(MAX_UPLOAD_BYTES);

    const first = streamedUpload(announced, 100);
    await first.taken();
    expect((await upload(other, 'other.png')).statusCode).toBe(201);
    first.finish();
    expect((await first.response).statusCode).toBe(201);
  });
});

describe('408 UPLOAD_TIMEOUT: a body that sends nothing for UPLOAD_IDLE_TIMEOUT_MS', () => {
  const IDLE_MS = 200;

  beforeEach(async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS) });
  });

  it('is answered 408 in JSON with Connection: close, its memory returned and nothing stored', async () => {
    const form = multipartBody([{ name: 'image', filename: 'silent.png', bytes: await fixtures.noisePng(200, 200) }]);
    const silent = streamedUpload(form, 20_000);
    const refused = await silent.response;
    // Only the idle timer answers 408; that it waits for UPLOAD_IDLE_TIMEOUT_MS first is the
    // next test's (a body slower than that, but never idle that long, is stored).
    expect(refused.statusCode).toBe(408);
    expect(refused.json()).toEqual({ statusCode: 408, error: 'Request Timeout', code: 'UPLOAD_TIMEOUT', message: expect.any(String) });
    expect(refused.headers.connection).toBe('close');
    expect(await gateway.uploadMemory()).toBe(0);
    expect(gateway.objects.objects.size).toBe(0);
    silent.stream.destroy();
  });

  it('does not cut a body that keeps arriving, however slowly', async () => {
    const form = multipartBody([{ name: 'image', filename: 'slow.png', bytes: await fixtures.noisePng(100, 100) }]);
    const pieces = 6;
    const size = Math.ceil(form.body.length / pieces);
    const slow = streamedUpload(form, 0);
    for (let i = 0; i < pieces; i += 1) {
      // The slow client is the behaviour under test: it sends a piece every half idle timeout.
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 2));
      slow.stream.write(form.body.subarray(i * size, (i + 1) * size));
    }
    slow.stream.end();
    expect((await slow.response).statusCode).toBe(201);
  });
});

describe('429 TOO_MANY_UPLOADS_IN_PROGRESS: uploads in progress per client', () => {
  it('refuses one more than UPLOADS_IN_PROGRESS_PER_CLIENT from one address with Retry-After; other addresses go on', async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, UPLOADS_IN_PROGRESS_PER_CLIENT: '2' });
    const png = await fixtures.onePixelPng();
    const form = multipartBody([{ name: 'image', filename: 'a.png', bytes: png }]);
    const post = (remoteAddress: string) =>
      gateway.request({ method: 'POST', url: '/', payload: form.body, headers: { 'content-type': form.contentType }, remoteAddress });

    const held = [streamedUpload(form, 10, '203.0.113.9'), streamedUpload(form, 10, '203.0.113.9')];
    await Promise.all(held.map((upload) => upload.taken()));
    const refused = await post('203.0.113.9');
    expectError(refused, 429, 'TOO_MANY_UPLOADS_IN_PROGRESS');
    expect(refused.headers['retry-after']).toBe('2');
    expect((await post('203.0.113.10')).statusCode).toBe(201);

    held[0]?.finish();
    expect((await held[0]?.response)?.statusCode).toBe(201);
    expect((await post('203.0.113.9')).statusCode).toBe(201);
    held[1]?.finish();
    expect((await held[1]?.response)?.statusCode).toBe(201);
  });
});

describe('a refusal sent before the body is read', () => {
  it('comes with Connection: close once the rest of the body has been read', async () => {
    const { stream, taken, finish } = partialBody(Buffer.alloc(1000, 0x89));
    let answered = false;
    const pending = gateway.request({ method: 'POST', url: '/', payload: stream, headers: { 'content-type': 'image/png' } }).then((response) => {
      answered = true;
      return response;
    });
    await taken();
    expect(answered).toBe(false);
    finish(Buffer.alloc(1000, 0x89));
    const refused = await pending;
    expectError(refused, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(refused.headers.connection).toBe('close');
  });

  it('frees the client’s place among its uploads in progress once answered, while the body is still read', async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, UPLOADS_IN_PROGRESS_PER_CLIENT: '1' });
    const { stream, taken, finish } = partialBody(Buffer.alloc(1000, 0x89));
    const lingering = gateway.request({ method: 'POST', url: '/', payload: stream, headers: { 'content-type': 'image/png' }, remoteAddress: '203.0.113.20' });
    await taken();
    const form = multipartBody([{ name: 'image', filename: 'a.png', bytes: await fixtures.onePixelPng() }]);
    const next = await gateway.request({ method: 'POST', url: '/', payload: form.body, headers: { 'content-type': form.contentType }, remoteAddress: '203.0.113.20' });
    expect(next.statusCode).toBe(201);
    finish();
    expectError(await lingering, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('does not wait for more than twice MAX_UPLOAD_BYTES of it', async () => {
    const stream = new PassThrough();
    stream.write(Buffer.alloc(2 * MAX_UPLOAD_BYTES + 1, 0x89));
    const refused = await gateway.request({ method: 'POST', url: '/', payload: stream, headers: { 'content-type': 'image/png' } });
    expectError(refused, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(refused.headers.connection).toBe('close');
    stream.destroy();
  });
});

describe('429: uploads per client', () => {
  it('refuses past UPLOAD_RATE_LIMIT a minute with Retry-After and RateLimit headers; other clients and reads go on', async () => {
    await gateway.close();
    gateway = await startTestGateway({ ...ENV, UPLOAD_RATE_LIMIT: '2' });
    const png = await fixtures.onePixelPng();
    const form = multipartBody([{ name: 'image', filename: 'a.png', bytes: png }]);
    const post = (remoteAddress: string) =>
      gateway.request({ method: 'POST', url: '/', payload: form.body, headers: { 'content-type': form.contentType }, remoteAddress });

    const first = await post('203.0.113.7');
    expect(first.statusCode).toBe(201);
    expect(first.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '1', 'ratelimit-policy': '2;w=60' });
    expect((await post('203.0.113.7')).statusCode).toBe(201);
    const limited = await post('203.0.113.7');
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-policy': '2;w=60' });
    expect(gateway.objects.objects.size).toBe(2);

    expect((await post('203.0.113.8')).statusCode).toBe(201);
    const key = first.json<Keys>().image_key;
    expect((await gateway.request({ method: 'GET', url: `/${key}`, remoteAddress: '203.0.113.7' })).statusCode).toBe(200);
  });
});
