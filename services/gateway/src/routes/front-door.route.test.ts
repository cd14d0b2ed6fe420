import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { sharedTestGateway, startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// GET / in-process: the upload page for browsers, the JSON front door for API clients, and
// the page's own files, each under a strict Content-Security-Policy.

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
const JSON_FRONT_DOOR = { service: 'imagehost', upload: 'POST / (multipart/form-data, file part "image")', openapi: '/openapi.json' };
const publicFile = (name: string) => readFileSync(new URL(`../../public/${name}`, import.meta.url));

let gateway: TestGateway;

beforeEach(async () => {
  gateway = await sharedTestGateway({ MAX_UPLOAD_BYTES: String(12 * 1024 * 1024), PUBLIC_BASE_URL: 'https://img.example' });
});

afterEach(async () => {
  await gateway.close();
});

const get = (url: string, headers: Record<string, string> = {}) => gateway.request({ method: 'GET', url, headers });

describe('Accept decides what GET / is', () => {
  it.each([
    ['a browser', BROWSER_ACCEPT],
    ['text/html alone', 'text/html'],
    ['text/html preferred by weight', 'application/json;q=0.5, text/html'],
  ])('%s gets the upload page', async (_who, accept) => {
    const page = await get('/', { accept });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers.vary).toBe('Accept');
    expect(page.body).toContain('<h1>Upload an image</h1>');
  });

  it.each([
    ['no Accept', undefined],
    ['*/*', '*/*'],
    ['application/json', 'application/json'],
    ['JSON preferred by weight', 'text/html;q=0.5, application/json'],
    ['JSON and HTML equally, JSON first', 'application/json, text/html'],
    ['an image type', 'image/png'],
  ])('%s gets the JSON front door', async (_who, accept) => {
    const index = await get('/', accept === undefined ? {} : { accept });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(index.headers.vary).toBe('Accept');
    expect(index.json()).toEqual(JSON_FRONT_DOOR);
  });
});

it('keeps Vary: Origin beside Accept when CORS_ORIGINS lists origins', async () => {
  const listing = await startTestGateway({ CORS_ORIGINS: 'https://photos.example' });
  const page = await listing.request({ method: 'GET', url: '/', headers: { accept: 'text/html', origin: 'https://photos.example' } });
  expect(page.headers.vary).toBe('Origin, Accept');
  await listing.close();
});

describe('the upload page', () => {
  it('says the configured size limit and links its own script and style sheet only', async () => {
    const page = await get('/', { accept: 'text/html' });
    expect(page.body).toContain('A JPEG or PNG of up to <span id="max-size" data-bytes="12582912">12 MiB</span>');
    expect(page.body).not.toContain('{{');
    expect(page.body).toContain('<script src="/assets/upload.js" defer></script>');
    expect(page.body).toContain('<link rel="stylesheet" href="/assets/upload.css">');
    expect(page.body).toContain('<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">');
    // Nothing inline for the policy to allow: no <style>, no style= and no on…= attributes, no inline <script>.
    expect(page.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=|<script>/i);
  });

  it('tells its script the lifetimes the server allows: none set, or the cap and the default', async () => {
    expect((await get('/', { accept: 'text/html' })).body).toContain('<select id="expires-in" data-max="" data-default="">');
    const capped = await startTestGateway({ MAX_IMAGE_LIFETIME: '86400', DEFAULT_IMAGE_LIFETIME: '3600' });
    const page = await capped.request({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    expect(page.body).toContain('<select id="expires-in" data-max="86400" data-default="3600">');
    await capped.close();
  });

  it('every control has a label, and status and errors are announced', async () => {
    const page = (await get('/', { accept: 'text/html' })).body;
    for (const id of [...page.matchAll(/<(?:input|progress|select)[^>]* id="([^"]+)"/g)].map((match) => match[1])) {
      expect([id, page.includes(`<label for="${id}">`)]).toEqual([id, true]);
    }
    expect(page).toContain('<p id="status" role="status" aria-live="polite">');
    expect(page).toContain('<p id="error" role="alert"');
    expect(page).toContain('<html lang="en">');
  });

  it.each([
    ['/', 'text/html; charset=utf-8', 'index.html'],
    ['/assets/upload.js', 'text/javascript; charset=utf-8', 'upload.js'],
    ['/assets/upload.css', 'text/css; charset=utf-8', 'upload.css'],
    ['/assets/icon.svg', 'image/svg+xml', 'icon.svg'],
  ])('%s: its file, a strict Content-Security-Policy, nosniff, and a 304 for its ETag', async (url, contentType, file) => {
    const served = await get(url, { accept: 'text/html' });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toBe(contentType);
    if (file !== 'index.html') expect(served.rawPayload.equals(publicFile(file))).toBe(true);
    expect(served.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: https://img.example; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    expect(served.headers['x-content-type-options']).toBe('nosniff');
    expect(served.headers['cache-control']).toBe('no-cache');
    const etag = String(served.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    const again = await get(url, { accept: 'text/html', 'if-none-match': etag });
    expect([again.statusCode, again.body]).toEqual([304, '']);
  });
});
