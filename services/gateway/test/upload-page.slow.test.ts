import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'puppeteer-core';
import { TestStack, fixtures, freePort, launchChromium, request, uploadImage, type ServiceProcess } from '@imagehost/testing';

// The upload page in a real browser: Debian's Chromium (installed by the test tooling when
// missing), headless, driven by puppeteer-core, against the real gateway, ingest and reaper.
// A person's path through the page, the refusals they can meet, and a page of another origin
// using the API with fetch. Screenshots go to a temporary folder printed at the start.

const BROWSER_TIMEOUT_MS = 20_000;
let stack: TestStack;
let limitedGateway: { service: ServiceProcess; baseUrl: string };
let browser: Browser;
let otherOrigin: { server: Server; url: string };
const files = mkdtempSync(join(tmpdir(), 'imagehost-page-files-'));
const screenshots = mkdtempSync(join(tmpdir(), 'imagehost-page-screenshots-'));
const bytesOf: Record<string, Buffer> = {};

/** Writes a file for the browser to pick, and keeps its bytes for comparisons. */
function pickable(name: string, bytes: Buffer): string {
  bytesOf[name] = bytes;
  const path = join(files, name);
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  process.stdout.write(`upload page screenshots: ${screenshots}\n`);
  pickable('photo.jpg', await fixtures.baselineJpeg(1600, 1200));
  pickable('replacement.png', await fixtures.rgbaPng(64, 48));
  // 13 MB of incompressible pixels: more than the default MAX_UPLOAD_BYTES (10 MiB).
  pickable('huge.png', await fixtures.noisePng(2100, 2100));
  pickable('animation.gif', await fixtures.gif());
  [stack, browser] = await Promise.all([TestStack.start(), launchChromium()]);
  // A second gateway of the same stack whose upload rate limit is 1 a minute.
  const port = await freePort();
  const service = await stack.startService('gateway', { PORT: String(port), UPLOAD_RATE_LIMIT: '1' });
  await service.waitUntilServing();
  limitedGateway = { service, baseUrl: `http://127.0.0.1:${port}` };
  // Another origin (same host, another port): a page there uses the API with fetch.
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>another site</title><p>another site</p>');
  });
  const otherPort = await freePort();
  await new Promise<void>((resolve) => server.listen(otherPort, '127.0.0.1', resolve));
  otherOrigin = { server, url: `http://127.0.0.1:${otherPort}` };
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => otherOrigin?.server.close(resolve));
  await stack?.stop();
  rmSync(files, { recursive: true, force: true });
}, 120_000);

interface OpenedPage {
  readonly page: Page;
  /** Console errors and uncaught exceptions, CSP violations included. */
  readonly problems: string[];
}

async function openUploadPage(baseUrl: string): Promise<OpenedPage> {
  const page = await browser.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  await page.setViewport({ width: 1000, height: 1100 });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('dialog', (dialog) => void dialog.accept());
  const response = await page.goto(baseUrl, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
  // Every value the progress bar takes, in order, to see the upload's progress events.
  await inPage(
    page,
    `window.progressSeen = []; new MutationObserver(() => window.progressSeen.push(${byId('progress')}.value)).observe(${byId('progress')}, { attributes: true, attributeFilter: ['value'] })`,
  );
  return { page, problems };
}

/** What Chromium's console says of a request answered with this status. */
const refusedInConsole = (status: number) => expect.stringMatching(new RegExp(`^Failed to load resource: the server responded with a status of ${status} `));

async function choose(page: Page, inputId: string, fileName: string): Promise<void> {
  const input = await page.$(`#${inputId}`);
  if (input === null) throw new Error(`no #${inputId}`);
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(join(files, fileName));
}

// What runs in the page is written as source text: this package is type-checked without the DOM's types.
/** The value of a JavaScript expression evaluated in the page. */
const inPage = <T>(page: Page, expression: string) => page.evaluate(expression) as Promise<T>;
/** Waits until a JavaScript expression is true in the page. */
const until = async (page: Page, expression: string, timeout = BROWSER_TIMEOUT_MS) => {
  await page.waitForFunction(expression, { timeout });
};
const byId = (id: string) => `document.getElementById(${JSON.stringify(id)})`;
const valueOf = (page: Page, id: string) => inPage<string>(page, `${byId(id)}.value`);
const textOf = (page: Page, id: string) => inPage<string>(page, `${byId(id)}.textContent`);
const statusIs = (page: Page, text: string) => until(page, `${byId('status')}.textContent === ${JSON.stringify(text)}`);

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** The error the API gives for this upload, as its JSON says it. */
async function apiRefusal(baseUrl: string, name: string): Promise<{ status: number; code: string; message: string }> {
  const refused = await uploadImage(baseUrl, bytesOf[name] ?? Buffer.alloc(0), name);
  const { code, message } = refused.json as { code: string; message: string };
  return { status: refused.status, code, message };
}

/** What a page of another origin sees when it stores, reads, draws, replaces and deletes an image. */
interface CrossOriginOutcome {
  readonly posted: { status: number; location: string | null; width: number; imageKey: string };
  readonly read: { status: number; etag: string | null; length: string | null; bytes: number };
  readonly pixel: number;
  readonly patched: { status: number; width: number };
  readonly deleted: { status: number; body: unknown };
  readonly gone: { status: number; body: unknown };
}

const USE_THE_API_FROM_ANOTHER_ORIGIN = `async (gateway, photo, replacement) => {
  const blobOf = (base64, type) => new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], { type });
  const form = (blob, name) => {
    const data = new FormData();
    data.append('image', blob, name);
    return data;
  };
  const posted = await fetch(gateway + '/', { method: 'POST', body: form(blobOf(photo, 'image/jpeg'), 'photo.jpg') });
  const keys = await posted.json();
  const read = await fetch(gateway + '/' + keys.image_key);
  const readBytes = (await read.arrayBuffer()).byteLength;
  // An image of another origin drawn on a canvas can be read back only with CORS.
  const image = new Image();
  image.crossOrigin = 'anonymous';
  image.src = keys.url;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const pixel = context.getImageData(0, 0, 1, 1).data.length;
  // A custom header, and a JSON body: each needs a preflight.
  const patched = await fetch(gateway + '/' + keys.image_key, {
    method: 'PATCH',
    headers: { 'X-Update-Key': keys.update_key },
    body: form(blobOf(replacement, 'image/png'), 'replacement.png'),
  });
  const newKeys = await patched.json();
  const deleted = await fetch(gateway + '/' + keys.image_key, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ delete_key: newKeys.delete_key }),
  });
  const gone = await fetch(gateway + '/' + keys.image_key);
  return {
    posted: { status: posted.status, location: posted.headers.get('location'), width: keys.width, imageKey: keys.image_key },
    read: { status: read.status, etag: read.headers.get('etag'), length: read.headers.get('content-length'), bytes: readBytes },
    pixel,
    patched: { status: patched.status, width: newKeys.width },
    deleted: { status: deleted.status, body: await deleted.json() },
    gone: { status: gone.status, body: await gone.json() },
  };
}`;

/** The contrast ratio of each visible element's own text with the first opaque background behind it. */
const CONTRAST_OF_EVERY_TEXT = `(() => {
  const rgb = (colour) => colour.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const backgroundOf = (element) => {
    for (let at = element; at !== null; at = at.parentElement) {
      const [r, g, b, a = 1] = rgb(getComputedStyle(at).backgroundColor);
      if (a > 0) return [r, g, b];
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll('body *')]
    .filter((element) => element.checkVisibility() && [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim() !== ''))
    .map((element) => {
      const [light, dark] = [luminance(rgb(getComputedStyle(element).color)), luminance(backgroundOf(element))].sort((a, b) => b - a);
      return { text: element.textContent.trim().slice(0, 40), ratio: Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100 };
    });
})()`;

describe('the upload page in Chromium', () => {
  it('a person uploads a photo, sees the preview, the link and both keys, copies a key, replaces the image and deletes it', async () => {
    const { page, problems } = await openUploadPage(stack.baseUrl);
    await choose(page, 'file', 'photo.jpg');
    await page.waitForSelector('#result:not([hidden])');
    await until(page, `${byId('preview')}.complete && ${byId('preview')}.naturalWidth > 0`);
    const link = await valueOf(page, 'link');
    const [updateKey, deleteKey] = [await valueOf(page, 'update-key'), await valueOf(page, 'delete-key')];
    expect(link).toMatch(new RegExp(`^${stack.baseUrl}/[A-Za-z0-9_-]{16}$`));
    expect([updateKey, deleteKey]).toEqual([expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)]);
    expect(await textOf(page, 'status')).toBe(`Uploaded: 1600 × 1200, ${bytesOf['photo.jpg']?.length} bytes. The keys are below.`);
    expect(await inPage(page, `${byId('preview')}.naturalWidth`)).toBe(1600);
    expect(await inPage(page, `${byId('progress')}.value`)).toBe(100);
    // What the page shows is what the service stored.
    const stored = await request(link);
    expect([stored.status, stored.body.equals(bytesOf['photo.jpg'] ?? Buffer.alloc(0))]).toEqual([200, true]);
    await screenshot(page, '1-uploaded');

    // The copy button puts the key on the clipboard.
    await browser.defaultBrowserContext().overridePermissions(stack.baseUrl, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
    await page.click('button[data-copy="delete-key"]');
    await statusIs(page, 'Copied the delete key.');
    expect(await inPage(page, 'navigator.clipboard.readText()')).toBe(deleteKey);

    await choose(page, 'replacement', 'replacement.png');
    await until(page, `${byId('delete-key')}.value !== ${JSON.stringify(deleteKey)}`);
    await until(page, `${byId('preview')}.naturalWidth === 64`);
    expect(await textOf(page, 'status')).toBe(`Replaced: 64 × 48, ${bytesOf['replacement.png']?.length} bytes. The keys are below.`);
    expect(await valueOf(page, 'link')).toBe(link);
    const replaced = await request(link);
    expect([replaced.status, replaced.headers.get('content-type'), replaced.body.equals(bytesOf['replacement.png'] ?? Buffer.alloc(0))]).toEqual([200, 'image/png', true]);
    const oldKeyTried = await request(link, { method: 'DELETE', headers: { 'x-delete-key': deleteKey } });
    expect(oldKeyTried.status).toBe(403);
    await screenshot(page, '2-replaced');

    await page.click('#delete');
    await statusIs(page, 'Deleted. The link no longer works.');
    expect(await inPage(page, `${byId('result')}.hidden`)).toBe(true);
    expect((await request(link)).status).toBe(404);
    await screenshot(page, '3-deleted');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('offers only the lifetimes the server allows, and the one chosen is the image’s expiry', async () => {
    const port = await freePort();
    const capped = await stack.startService('gateway', { PORT: String(port), MAX_IMAGE_LIFETIME: '604800', DEFAULT_IMAGE_LIFETIME: '86400' });
    await capped.waitUntilServing();
    const { page, problems } = await openUploadPage(`http://127.0.0.1:${port}`);
    const offered = await inPage<string[]>(page, `[...${byId('expires-in')}.options].map((option) => option.value + ' ' + option.textContent)`);
    expect(offered).toEqual(['3600 after 1 hour', '86400 after 1 day', '604800 after 1 week']);
    expect(await valueOf(page, 'expires-in')).toBe('86400');
    await page.select('#expires-in', '3600');
    const chosenAt = Date.now();
    await choose(page, 'file', 'photo.jpg');
    await page.waitForSelector('#result:not([hidden])');
    expect(await textOf(page, 'status')).toMatch(/ It will be deleted on .+\.$/);
    const imageKey = (await valueOf(page, 'link')).split('/').at(-1) ?? '';
    const expiresAt = (await stack.images.findAny(imageKey))?.expiresAt?.getTime() ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(chosenAt + 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    await screenshot(page, '5-lifetime');
    expect(problems).toEqual([]);
    await page.close();
    await capped.stop();
  });

  it('is operable from the keyboard with a visible focus on every control, and all its text has AA contrast', async () => {
    const { page, problems } = await openUploadPage(stack.baseUrl);
    await choose(page, 'file', 'photo.jpg');
    await page.waitForSelector('#result:not([hidden])');
    const reached: { id: string; outline: string }[] = [];
    for (let press = 0; press < 20; press++) {
      await page.keyboard.press('Tab');
      const focused = await inPage<{ id: string; outline: string } | null>(
        page,
        `(() => {
          const element = document.activeElement;
          if (element === null || element === document.body) return null;
          const style = getComputedStyle(element);
          return { id: element.id || element.textContent, outline: style.outlineStyle + ' ' + style.outlineWidth };
        })()`,
      );
      if (focused === null || reached.some((seen) => seen.id === focused.id)) break;
      reached.push(focused);
    }
    expect(reached.map((control) => control.id)).toEqual(
      expect.arrayContaining(['file', 'Copy link', 'Copy update key', 'Copy delete key', 'replacement', 'delete']),
    );
    for (const control of reached) expect([control.id, control.outline]).toEqual([control.id, 'solid 3px']);
    // Every piece of text against what is behind it: at least 4.5:1 (WCAG AA).
    const contrasts = await inPage<{ text: string; ratio: number }[]>(page, CONTRAST_OF_EVERY_TEXT);
    expect(contrasts.length).toBeGreaterThan(10);
    expect(contrasts.filter((shown) => shown.ratio < 4.5)).toEqual([]);
    // Enter on a focused button presses it.
    await page.focus('button[data-copy="link"]');
    await page.keyboard.press('Enter');
    await statusIs(page, 'Copied the link.');
    await screenshot(page, '4-keyboard-focus');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows the API’s own message for a file over the size limit, a GIF and a rate limit, and stores nothing for them', async () => {
    const recordsBefore = await stack.recordCount();
    const { page, problems } = await openUploadPage(stack.baseUrl);

    await choose(page, 'file', 'huge.png');
    await until(page, `${byId('error')}.textContent !== ''`, 60_000);
    const tooLarge = await apiRefusal(stack.baseUrl, 'huge.png');
    expect(tooLarge).toEqual({ status: 413, code: 'IMAGE_TOO_LARGE', message: expect.any(String) });
    expect(await textOf(page, 'error')).toBe(`${tooLarge.message} (413 IMAGE_TOO_LARGE)`);
    // The progress bar followed the upload (values between empty and full), then emptied.
    const seen = await inPage<number[]>(page, 'window.progressSeen');
    expect(seen.some((value) => value > 0 && value < 100)).toBe(true);
    expect(seen.at(-1)).toBe(0);
    await screenshot(page, '5-too-large');

    const shown = await textOf(page, 'error');
    await choose(page, 'file', 'animation.gif');
    await until(page, `${byId('error')}.textContent !== ${JSON.stringify(shown)}`);
    const gif = await apiRefusal(stack.baseUrl, 'animation.gif');
    expect(gif).toEqual({ status: 415, code: 'UNSUPPORTED_EXTENSION', message: expect.any(String) });
    expect(await textOf(page, 'error')).toBe(`${gif.message} (415 UNSUPPORTED_EXTENSION)`);
    expect(await textOf(page, 'status')).toBe('');
    await screenshot(page, '6-gif');
    expect(await stack.recordCount()).toBe(recordsBefore);
    // The console reports each refused request itself; nothing else went wrong.
    expect(problems).toEqual([refusedInConsole(413), refusedInConsole(415)]);
    await page.close();

    // On a gateway that takes one upload a minute from this address: the second is refused.
    const limited = await openUploadPage(limitedGateway.baseUrl);
    await choose(limited.page, 'file', 'photo.jpg');
    await limited.page.waitForSelector('#result:not([hidden])');
    await choose(limited.page, 'file', 'photo.jpg');
    await until(limited.page, `${byId('error')}.textContent !== ''`);
    expect(await textOf(limited.page, 'error')).toMatch(/^too many uploads; retry in \d+ s \(429 RATE_LIMITED\)$/);
    await screenshot(limited.page, '7-rate-limited');
    expect(limited.problems).toEqual([refusedInConsole(429)]);
    await limited.page.close();
  });

  it('a page on another origin uploads with fetch, reads the JSON and the headers, draws the image on a canvas, replaces and deletes it', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
    await page.goto(otherOrigin.url);
    const outcome = await inPage<CrossOriginOutcome>(
      page,
      `(${USE_THE_API_FROM_ANOTHER_ORIGIN})(${JSON.stringify(stack.baseUrl)}, ${JSON.stringify(bytesOf['photo.jpg']?.toString('base64'))}, ${JSON.stringify(
        bytesOf['replacement.png']?.toString('base64'),
      )})`,
    );
    const photoLength = bytesOf['photo.jpg']?.length ?? 0;
    expect(outcome).toEqual({
      posted: { status: 201, location: `/${outcome.posted.imageKey}`, width: 1600, imageKey: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) },
      read: { status: 200, etag: expect.stringMatching(/^"/), length: String(photoLength), bytes: photoLength },
      pixel: 4,
      patched: { status: 200, width: 64 },
      deleted: { status: 200, body: { image_key: outcome.posted.imageKey } },
      gone: { status: 404, body: expect.objectContaining({ code: 'IMAGE_NOT_FOUND' }) },
    });
    await page.close();
  });
});
