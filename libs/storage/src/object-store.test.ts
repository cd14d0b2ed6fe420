import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '@imagehost/testing';
import { ObjectStore } from './object-store.js';

// GetObject and PutObject as the store sends them, seen by a stand-in S3 that records each
// request and answers what the test says. (test/object-requests.test.ts runs them against
// the real MinIO, which checks the signatures.)

interface Received {
  readonly method?: string;
  readonly url?: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const received: Received[] = [];
let answer: (response: ServerResponse) => void = (response) => response.writeHead(200).end();
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    received.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) });
    answer(response);
  });
});
const observed: [string, string][] = [];
let store: ObjectStore;

const s3Error = (status: number, code: string) => (response: ServerResponse) =>
  response.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>as told</Message></Error>`);

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  store = new ObjectStore({ endpoint: `http://127.0.0.1:${port}`, accessKey: 'access', secretKey: 'secret', region: 'us-east-1', bucket: 'images' }, (operation, outcome) =>
    observed.push([operation, outcome]),
  );
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterEach(() => {
  received.length = 0;
  observed.length = 0;
  answer = (response) => response.writeHead(200).end();
});

describe('PutObject', () => {
  it('sends the bytes as they are, with their type, metadata and their signed SHA-256, and returns that digest', async () => {
    const bytes = Buffer.from('the bytes of an image, exactly');
    const digest = await store.putObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', bytes, 'image/png', { job: '{"kind":"create"}' });

    const expected = createHash('sha256').update(bytes).digest('hex');
    expect(digest).toBe(expected);
    expect(observed).toEqual([['PutObject', 'ok']]);
    expect(received).toHaveLength(1);
    const [put] = received;
    expect(put?.method).toBe('PUT');
    expect(put?.url).toBe('/images/images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB');
    expect(put?.body.equals(bytes)).toBe(true);
    expect(put?.headers['content-type']).toBe('image/png');
    expect(put?.headers['content-length']).toBe(String(bytes.length));
    expect(put?.headers['x-amz-meta-job']).toBe('{"kind":"create"}');
    expect(put?.headers['x-amz-content-sha256']).toBe(expected);
    expect(put?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=access\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^,]*x-amz-content-sha256[^,]*, Signature=[0-9a-f]{64}$/);
  });

  it('fails as S3 unavailable when S3 refuses the write', async () => {
    answer = s3Error(403, 'SignatureDoesNotMatch');
    await expect(store.putObject('images/AAAAAAAAAAAAAAAA/CCCCCCCCCCCCCCCC', Buffer.from('x'), 'image/png')).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringContaining('SignatureDoesNotMatch') as unknown as string,
    });
    expect(observed).toEqual([['PutObject', 'unavailable']]);
  });
});

describe('GetObject', () => {
  it("asks for the byte range, and hands back S3's own stream", async () => {
    answer = (response) => response.writeHead(206, { 'content-length': '3' }).end('abc');
    const stream = await store.openObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', { offset: 10, length: 3 });
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('abc');
    expect(received[0]?.method).toBe('GET');
    expect(received[0]?.headers.range).toBe('bytes=10-12');
    expect(received[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });

  it('answers undefined for NoSuchKey, and fails as S3 unavailable for another 404 (a missing bucket is no missing image)', async () => {
    answer = s3Error(404, 'NoSuchKey');
    await expect(store.openObject('images/gone')).resolves.toBeUndefined();
    await expect(store.readObject('images/gone', 100)).resolves.toBeUndefined();
    answer = s3Error(404, 'NoSuchBucket');
    await expect(store.openObject('images/any')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('NoSuchBucket') as unknown as string });
    answer = s3Error(503, 'SlowDown');
    await expect(store.readObject('images/any', 100)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(observed).toEqual([
      ['GetObject', 'ok'],
      ['GetObject', 'ok'],
      ['GetObject', 'unavailable'],
      ['GetObject', 'unavailable'],
    ]);
  });

  it('refuses an object larger than the reader allows', async () => {
    answer = (response) => response.writeHead(200, { 'content-length': '10' }).end('0123456789');
    await expect(store.readObject('images/big', 4)).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
  });
});

describe('a kept-alive socket that S3 closed as it was reused', () => {
  it('is replaced by a fresh one for the same request, once, with no error seen', async () => {
    // Answers the first request on each connection, keeping it open, and drops the connection
    // without a word on the second: what a reused socket meets when S3's idle timeout fires.
    let connections = 0;
    let requests = 0;
    const sockets: Socket[] = [];
    const s3 = createTcpServer((socket) => {
      connections += 1;
      sockets.push(socket);
      let seen = 0;
      socket.on('data', (data) => {
        const arrived = data.toString('latin1').split('\r\n\r\n').length - 1;
        requests += arrived;
        seen += arrived;
        if (seen === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nbytes');
        else if (seen > 1) socket.destroy();
      });
    });
    await new Promise<void>((resolve) => s3.listen(0, '127.0.0.1', resolve));
    const { port } = s3.address() as AddressInfo;
    const calls: [string, string][] = [];
    const flaky = new ObjectStore({ endpoint: `http://127.0.0.1:${port}`, accessKey: 'access', secretKey: 'secret', region: 'us-east-1', bucket: 'images' }, (operation, outcome) =>
      calls.push([operation, outcome]),
    );
    try {
      expect((await flaky.readObject('images/a', 10))?.toString()).toBe('bytes');
      // Let the agent put the socket back in its pool.
      await new Promise((resolve) => setImmediate(resolve));
      expect((await flaky.readObject('images/b', 10))?.toString()).toBe('bytes');
      expect(await flaky.putObject('images/c', Buffer.from('bytes'), 'image/png')).toMatch(/^[0-9a-f]{64}$/);
      expect(calls.every(([, outcome]) => outcome === 'ok')).toBe(true);
      expect({ connections, requests }).toEqual({ connections: 3, requests: 5 });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s3.close(() => resolve()));
    }
  });
});

describe('call metrics', () => {
  it('time every call, and count one that finds no S3 as unavailable', async () => {
    const calls: [string, string][] = [];
    // Nothing listens on that port: S3 is unavailable.
    const port = await freePort();
    const unreachable = new ObjectStore(
      { endpoint: `http://127.0.0.1:${port}`, accessKey: 'access', secretKey: 'secret', region: 'us-east-1', bucket: 'images', timeoutMs: 2_000 },
      (operation, outcome, seconds) => {
        calls.push([operation, outcome]);
        expect(seconds).toBeGreaterThanOrEqual(0);
      },
    );
    await expect(unreachable.removeObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(unreachable.openObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(calls).toEqual([
      ['DeleteObject', 'unavailable'],
      ['GetObject', 'unavailable'],
    ]);
  });
});
