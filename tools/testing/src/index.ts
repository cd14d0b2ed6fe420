import { randomBytes } from 'node:crypto';
import { BACKEND_ENV, mongoUrlFromEnvironment, redisUrlFromEnvironment, s3FromEnvironment, type BackendSettings } from '@imagehost/backends';

/**
 * The backends the global setup provided, read from the environment. Tests never start
 * their own servers; they isolate themselves by names instead (see `uniqueName`).
 */
export function testBackendSettings(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const redisUrl = redisUrlFromEnvironment(env);
  const mongoUrl = mongoUrlFromEnvironment(env);
  const s3 = s3FromEnvironment(env);
  if (redisUrl === undefined || mongoUrl === undefined || s3 === undefined) {
    throw new Error(
      `Backends are not set (${BACKEND_ENV.redisUrl}, ${BACKEND_ENV.mongoUrl}, ${BACKEND_ENV.s3Endpoint}): run tests through \`npm test\`, whose global setup provides them.`,
    );
  }
  return { redisUrl, mongoUrl, s3 };
}

/**
 * A name no other test uses, valid as a MongoDB database, an S3 bucket and a BullMQ prefix
 * (lower-case letters, digits and dashes, at most 40 characters).
 */
export function uniqueName(purpose: string): string {
  const cleaned = purpose.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24) || 't';
  return `${cleaned}-${randomBytes(6).toString('hex')}`;
}

/** Polls `check` until it returns a value other than `undefined`, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The sum of a Prometheus metric's samples whose labels include `labels`, from `/metrics` text. */
/** Runs `run` and says how long it took, for bounds on what a client waits. */
export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

export function metricSample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export { ServiceProcess, TestStack, freePort, type ServiceName, type StackOptions } from './stack.js';
export { corrupted, fixtures, pngChunk, truncated } from './fixtures.js';
export { multipartBody, request, uploadImage, type FormPart, type HttpResult } from './multipart.js';
export { readRss } from './process-memory.js';
export { TEST_RUN_VARIABLE, killLeftoverProcesses, testRunMarker } from './leftover-processes.js';
export { FaultProxy, type FaultMode, type FaultProxyStats, type FaultTarget } from './fault-proxy.js';
export { PHOTO_SECRETS, jpegSegment, phoneExif, phonePhotoJpeg, phonePhotoPng, pngChunkTypes, withJpegSegments } from './photo-metadata.js';
export { chromiumExecutable, launchChromium } from './browser.js';
export { SCHEMATHESIS_VERSION, schemathesisCommand } from './schemathesis.js';
