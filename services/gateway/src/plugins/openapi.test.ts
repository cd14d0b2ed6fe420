import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ERROR_CODES } from '@imagehost/errors';
import { IMAGE_KEY_PATTERN } from '@imagehost/keys';
import { IDEMPOTENCY_KEY_PATTERN } from '../uploads/idempotency-key.js';
import { OpenApiConformance, type OpenApiDocument } from '../testing/openapi-conformance.js';
import { startTestGateway, type TestGateway } from '../testing/test-gateway.js';

// The OpenAPI document is generated from the routes' schemas. Every response of the route
// tests is checked against it as it arrives (see testing/test-gateway.ts); here, what those
// tests cannot provoke through inject(): statuses that come from the HTTP server, hooks and
// limits, and the document as a whole.

let gateway: TestGateway;
let document: OpenApiDocument & { openapi?: string; components?: { schemas?: Record<string, { properties?: Record<string, { enum?: unknown }> }> } };

beforeAll(async () => {
  gateway = await startTestGateway();
  const served = await gateway.request({ method: 'GET', url: '/openapi.json' });
  expect(served.statusCode).toBe(200);
  expect(served.headers['content-type']).toBe('application/json; charset=utf-8');
  document = served.json();
});

afterAll(async () => {
  await gateway.close();
});

const operations = () =>
  Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item ?? {}).flatMap(([method, operation]) => (operation === undefined ? [] : [{ route: `${method.toUpperCase()} ${path}`, operation }])),
  );

it('is served at /openapi.json as OpenAPI 3.1, the document the app generates', () => {
  expect(document.openapi).toBe('3.1.0');
  expect(document).toEqual(JSON.parse(JSON.stringify(gateway.app.swagger())));
});

it('describes every route of the public port, and no other', () => {
  expect(operations().map(({ route }) => route).sort()).toEqual(
    [
      'GET /',
      'POST /',
      'GET /openapi.json',
      'GET /assets/upload.js',
      'GET /assets/upload.css',
      'GET /assets/icon.svg',
      'GET /{imageKey}',
      'HEAD /{imageKey}',
      'PATCH /{imageKey}',
      'DELETE /{imageKey}',
      'POST /{imageKey}/report',
    ].sort(),
  );
});

describe('statuses that come from the server, hooks and limits, not from a handler', () => {
  const fromOutsideHandlers: Record<string, number[]> = {
    // Any request: the server's time limits, and an unexpected failure.
    'GET /': [408, 500],
    'GET /openapi.json': [408, 500],
    'GET /assets/upload.js': [408, 500],
    'GET /assets/upload.css': [408, 500],
    'GET /assets/icon.svg': [408, 500],
    // Bodies: size limits; uploads and keys: rate limits; every backend: outages.
    'POST /': [408, 413, 429, 500, 503],
    'PATCH /{imageKey}': [408, 413, 429, 500, 503],
    'DELETE /{imageKey}': [408, 413, 415, 429, 500, 503],
    'GET /{imageKey}': [408, 500, 503],
    'HEAD /{imageKey}': [408, 500, 503],
  };

  it.each(Object.entries(fromOutsideHandlers))('%s documents %j', (route, statuses) => {
    const operation = operations().find((candidate) => candidate.route === route)?.operation;
    expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(statuses.map(String)));
  });

  it("documents the 408 the HTTP server sends for a request that is too slow, as the server sends it", () => {
    // What the server writes when a request outlasts REQUEST_TIMEOUT_MS or HEADERS_TIMEOUT_MS.
    let written = '';
    const socket = { writable: true, destroyed: false, write: (text: string) => (written += text), destroy: () => undefined };
    gateway.app.server.emit('clientError', Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket as unknown as Socket);
    const [head = '', body = ''] = written.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    const contentType = /content-type: ([^\r]+)/i.exec(head)?.[1] ?? '';
    const conformance = new OpenApiConformance(document);
    for (const { route } of operations()) {
      const [method = '', path = ''] = route.split(' ');
      const seen = { statusCode: 408, headers: { 'content-type': contentType }, rawPayload: Buffer.from(body) };
      expect([route, conformance.problemsOf(method, path.replace('{imageKey}', 'AAAAAAAAAAAAAAAA'), seen)]).toEqual([route, []]);
    }
  });
});

it('states what the handlers enforce, so that a request the document allows is not refused for its form', () => {
  type Parameter = { in: string; name: string; schema: { pattern?: string } };
  type WithRequest = { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: { properties?: Record<string, { minLength?: number }> } }> } };
  const operation = (path: string, method: string) => document.paths?.[path]?.[method] as WithRequest | undefined;
  for (const method of ['get', 'head', 'patch', 'delete']) {
    const imageKey = operation('/{imageKey}', method)?.parameters?.find((parameter) => parameter.in === 'path');
    expect([method, imageKey?.schema.pattern]).toEqual([method, IMAGE_KEY_PATTERN.source]);
  }
  const idempotencyKey = operation('/', 'post')?.parameters?.find((parameter) => parameter.name === 'Idempotency-Key');
  expect(idempotencyKey?.schema.pattern).toBe(IDEMPOTENCY_KEY_PATTERN);
  for (const [path, method] of [['/', 'post'], ['/{imageKey}', 'patch']] as const) {
    expect(operation(path, method)?.requestBody?.content['multipart/form-data']?.schema.properties?.image?.minLength).toBe(1);
  }
});

it('leaves the DELETE body optional: the key may come as the X-Delete-Key header instead', () => {
  const deleteOperation = document.paths?.['/{imageKey}']?.delete as { requestBody?: { required?: boolean } } | undefined;
  expect(deleteOperation?.requestBody?.required).toBe(false);
});

it('gives every refusal and failure the one error shape, whose codes are the contract’s', () => {
  for (const { route, operation } of operations()) {
    for (const [status, response] of Object.entries(operation.responses)) {
      if (Number(status) < 400) continue;
      const schema = response.content?.['application/json']?.schema;
      expect([route, status, schema]).toEqual([route, status, { $ref: status === '408' ? '#/components/schemas/ClientTimeout' : '#/components/schemas/Error' }]);
    }
  }
  expect(document.components?.schemas?.Error?.properties?.code?.enum).toEqual(Object.keys(ERROR_CODES));
});
