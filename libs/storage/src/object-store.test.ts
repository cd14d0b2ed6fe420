import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from 'minio';
import { ObjectStore, hasNoCopyPut } from './object-store.js';

// PutObject sends the upload's Buffer through minio's private makeRequestStreamAsync (the
// public putObject copies it). These tests fail when a minio upgrade changes that internal.

const require = createRequire(import.meta.url);

describe("minio's private request method", () => {
  it('is the pinned version, exactly', () => {
    const pinned = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies.minio;
    const installed = (require('minio/package.json') as { version: string }).version;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed).toBe(pinned);
  });

  it('exists with the arity the store calls it with', () => {
    const client = new Client({ endPoint: '127.0.0.1', port: 9, useSSL: false, accessKey: 'a', secretKey: 'b' });
    expect(hasNoCopyPut(client)).toBe(true);
    expect((client as unknown as { makeRequestStreamAsync: (...args: unknown[]) => unknown }).makeRequestStreamAsync.length).toBe(5);
  });
});

describe('PutObject through it', () => {
  const received: { method?: string; url?: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { etag: '"x"' }).end();
    });
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends the bytes as they are, with their type, metadata and a signed body hash', async () => {
    const { port } = server.address() as AddressInfo;
    const observed: [string, string][] = [];
    const store = new ObjectStore({ endpoint: `http://127.0.0.1:${port}`, accessKey: 'access', secretKey: 'secret', region: 'us-east-1', bucket: 'images' }, (operation, outcome) =>
      observed.push([operation, outcome]),
    );
    const bytes = Buffer.from('the bytes of an image, exactly');
    await store.putObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', bytes, 'image/png', { job: '{"kind":"create"}' });

    expect(received).toHaveLength(1);
    expect(observed).toEqual([['PutObject', 'ok']]);
    const [put] = received;
    expect(put?.method).toBe('PUT');
    expect(put?.url).toBe('/images/images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB');
    expect(put?.body.equals(bytes)).toBe(true);
    expect(put?.headers['content-type']).toBe('image/png');
    expect(put?.headers['content-length']).toBe(String(bytes.length));
    expect(put?.headers['x-amz-meta-job']).toBe('{"kind":"create"}');
    // Over plain HTTP the signature covers the body's SHA-256.
    expect(put?.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(put?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=access\//);
  });
});

describe('call metrics', () => {
  it('time every call, and count one that finds no S3 as unavailable', async () => {
    const observed: [string, string][] = [];
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    // Nothing listens on that port any more: S3 is unavailable.
    const store = new ObjectStore(
      { endpoint: `http://127.0.0.1:${port}`, accessKey: 'access', secretKey: 'secret', region: 'us-east-1', bucket: 'images', timeoutMs: 2_000 },
      (operation, outcome, seconds) => {
        observed.push([operation, outcome]);
        expect(seconds).toBeGreaterThanOrEqual(0);
      },
    );
    await expect(store.removeObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(observed).toEqual([['DeleteObject', 'unavailable']]);
  });
});

