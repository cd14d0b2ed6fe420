import { STATUS_CODES } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, expect } from '@jest/globals';
import { waitFor } from '@imagehost/testing';
import type { FastifyInstance, HTTPMethods, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { loadGatewayConfig } from '@imagehost/config';
import { buildApp } from '../app.js';
import { createGatewayMetrics } from '../metrics.js';
import { FakeBlocklist, FakeImages, FakeIngest, FakeObjects, FakePurges, FakeReports } from './fakes.js';
import { OpenApiConformance, type OpenApiDocument } from './openapi-conformance.js';

// The gateway built in-process over fakes, for route tests through `app.inject()`: no port,
// no backend. Only tests import `src/testing/`; nothing that runs in production does.

// The configuration needs backends to name; the fakes stand in for them, so these
// never-resolvable names are never reached.
const UNREACHED_BACKENDS = {
  REDIS_URL: 'redis://backend.invalid:6379',
  MONGO_URL: 'mongodb://backend.invalid:27017',
  S3_ENDPOINT: 'http://backend.invalid:9000',
  S3_ACCESS_KEY: 'unused',
  S3_SECRET_KEY: 'unused-secret',
  LOG_LEVEL: 'silent',
};

/** Where every test gateway's clock starts: 2026-01-02 03:04:05 UTC. */
export const TEST_START_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

export interface TestRequest {
  readonly method: HTTPMethods;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  readonly payload?: string | Buffer | Readable;
  /** The client's address, as rate limits see it. */
  readonly remoteAddress?: string;
}

export interface TestGateway {
  readonly app: FastifyInstance;
  readonly images: FakeImages;
  readonly objects: FakeObjects;
  readonly blocklist: FakeBlocklist;
  readonly ingest: FakeIngest;
  readonly purges: FakePurges;
  readonly reports: FakeReports;
  /** The gateway's clock, in milliseconds since the epoch; tests move it. */
  readonly time: { now: number };
  /** Upload bytes the gateway holds in memory, as its gauge reports them. */
  uploadMemory(): Promise<number>;
  /** The gateway's metrics in Prometheus' text format, as its ops port would serve them. */
  metrics(): Promise<string>;
  /**
   * `app.inject()`, failing when the response does not conform to the OpenAPI document the
   * gateway serves (status listed for the route, media type, JSON body schema, fixed headers).
   */
  request(request: TestRequest): Promise<LightMyRequestResponse>;
  /** `request` with a multipart body (as `multipartBody` of @imagehost/testing builds it). */
  sendForm(
    method: 'POST' | 'PATCH',
    url: string,
    form: { readonly body: Buffer; readonly contentType: string },
    headers?: Readonly<Record<string, string>>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** An error response in the contract's one JSON shape, with this status and code. */
export function expectError(response: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: response.statusCode, code: response.json<{ code?: unknown }>().code }).toEqual({ status, code });
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(response.json()).toEqual({ statusCode: status, error: STATUS_CODES[status], code, message: expect.any(String) });
}

/**
 * A request body sent in part: `sent` is written at once, the rest when the test says.
 * `taken()` resolves once the gateway has read every byte sent so far (the state a test
 * waits for before it looks at what the gateway did with them, instead of sleeping).
 */
export function partialBody(sent: Buffer) {
  const stream = new PassThrough();
  stream.write(sent);
  return {
    stream,
    taken: () => waitFor('the gateway to read the bytes sent so far', async () => (stream.readableLength + stream.writableLength === 0 ? true : undefined), 5_000, 1),
    finish: (rest: Buffer = Buffer.alloc(0)) => stream.end(rest),
  };
}

/** A gateway over fresh fakes. `env` holds gateway variables (MAX_UPLOAD_BYTES, UPLOAD_RATE_LIMIT…). */
export async function startTestGateway(env: Readonly<Record<string, string>> = {}): Promise<TestGateway> {
  return (await buildTestGateway(env)).gateway;
}

interface PooledGateway {
  readonly gateway: TestGateway;
  /** Empties the fakes, sets the clock back and gives requests a client address no test used yet. */
  readonly reset: () => void;
  inUse: boolean;
}

// Building a gateway (plugins, routes, response serializers, the document's validators) was
// most of a route test's time: tests of one file share one per configuration.
const pool = new Map<string, PooledGateway>();

afterAll(async () => {
  const gateways = [...pool.values()];
  pool.clear();
  await Promise.all(gateways.map(({ gateway }) => gateway.app.close()));
});

/**
 * A gateway with this `env` shared by the tests of one file, over fakes emptied for this test,
 * its clock at TEST_START_MS and a client address of its own (so per-client rate limits and
 * uploads in progress start from nothing). `close()` hands it back. What the app itself keeps
 * (its version cache, its metrics) carries over: a test that counts those starts its own with
 * `startTestGateway`.
 */
export async function sharedTestGateway(env: Readonly<Record<string, string>> = {}): Promise<TestGateway> {
  const key = JSON.stringify(env);
  let pooled = pool.get(key);
  if (pooled === undefined) {
    pooled = { ...(await buildTestGateway(env)), inUse: false };
    pool.set(key, pooled);
  }
  if (pooled.inUse) return startTestGateway(env);
  const taken = pooled;
  taken.inUse = true;
  taken.reset();
  return {
    ...taken.gateway,
    close: async () => {
      taken.inUse = false;
    },
  };
}

let clients = 0;

async function buildTestGateway(env: Readonly<Record<string, string>>): Promise<{ gateway: TestGateway; reset: () => void }> {
  const variables = { ...UNREACHED_BACKENDS, ...env };
  const config = loadGatewayConfig(variables);
  const images = new FakeImages();
  const objects = new FakeObjects();
  const ingest = new FakeIngest(images, objects);
  const purges = new FakePurges();
  const reports = new FakeReports();
  const blocklist = new FakeBlocklist();
  const time = { now: TEST_START_MS };
  const registry = new Registry();
  const app = await buildApp(config, { images, reports, objects, blocklist, ingest, purges, metrics: createGatewayMetrics(registry), clock: () => time.now });
  await app.ready();
  const conformance = new OpenApiConformance(app.swagger() as OpenApiDocument);
  let remoteAddress = '127.0.0.1';
  const request = async (options: TestRequest): Promise<LightMyRequestResponse> => {
    const response = await app.inject({ ...options, remoteAddress: options.remoteAddress ?? remoteAddress, headers: { ...options.headers } });
    const problems = conformance.problemsOf(options.method, options.url, response);
    if (problems.length > 0) throw new Error(`the response does not conform to /openapi.json:\n${problems.join('\n')}`);
    return response;
  };
  const reset = () => {
    images.reset();
    objects.reset();
    ingest.reset();
    purges.reset();
    time.now = TEST_START_MS;
    clients += 1;
    remoteAddress = `10.${(clients >> 16) & 255}.${(clients >> 8) & 255}.${clients & 255}`;
  };
  const gateway: TestGateway = {
    app,
    images,
    objects,
    blocklist,
    ingest,
    purges,
    reports,
    time,
    metrics: () => registry.metrics(),
    uploadMemory: async () => (await registry.getSingleMetric('imagehost_upload_memory_bytes')?.get())?.values[0]?.value ?? Number.NaN,
    request,
    sendForm: (method, url, form, headers = {}) => request({ method, url, payload: form.body, headers: { 'content-type': form.contentType, ...headers } }),
    close: () => app.close(),
  };
  return { gateway, reset };
}
