import { describe, expect, it } from '@jest/globals';
import { OpenApiConformance, type OpenApiDocument } from './openapi-conformance.js';

// The checker every route test relies on must fail when a response strays from the document.

const document: OpenApiDocument = {
  paths: {
    '/things/{id}': {
      get: {
        responses: {
          '200': {
            headers: { 'Cache-Control': { schema: { const: 'no-store' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
          },
          '304': {},
        },
      },
      head: { responses: { '200': {} } },
    },
    '/things/special': { get: { responses: { '204': {} } } },
  },
  components: {
    schemas: { Thing: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' } } } },
  },
} as OpenApiDocument;

const checker = new OpenApiConformance(document);
const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  rawPayload: Buffer.from(JSON.stringify(body)),
});

describe('OpenApiConformance', () => {
  it('passes a response the document describes', () => {
    expect(checker.problemsOf('GET', '/things/42?x=1', json(200, { name: 'a' }, { 'cache-control': 'no-store' }))).toEqual([]);
    expect(checker.problemsOf('GET', '/things/42', { statusCode: 304, headers: {}, rawPayload: Buffer.alloc(0) })).toEqual([]);
  });

  it('prefers a static path over a template, as the router does', () => {
    expect(checker.problemsOf('GET', '/things/special', { statusCode: 204, headers: {}, rawPayload: Buffer.alloc(0) })).toEqual([]);
  });

  it('reads a static path as its own, also for a method only the template lists (a 405 there)', () => {
    expect(checker.operationOf('GET', '/things/special')?.template).toBe('/things/special');
    expect(checker.operationOf('GET', '/things/42')?.template).toBe('/things/{id}');
    expect(checker.operationOf('HEAD', '/things/special')).toBeUndefined();
  });

  it('finds an undocumented status, a body that breaks its schema, a wrong media type, a wrong fixed header, a stray body', () => {
    expect(checker.problemsOf('GET', '/things/42', json(404, { name: 'a' }))).toEqual([expect.stringContaining('status not documented')]);
    expect(checker.problemsOf('GET', '/things/42', json(200, { name: 1 }))).toEqual([expect.stringContaining('does not match its schema')]);
    expect(checker.problemsOf('GET', '/things/42', json(200, { name: 'a', extra: true }))).toEqual([expect.stringContaining('does not match its schema')]);
    expect(checker.problemsOf('GET', '/things/42', { statusCode: 200, headers: { 'content-type': 'text/html' }, rawPayload: Buffer.from('<p>') })).toEqual([
      expect.stringContaining('Content-Type text/html not documented'),
    ]);
    expect(checker.problemsOf('GET', '/things/42', json(200, { name: 'a' }, { 'cache-control': 'public' }))).toEqual([expect.stringContaining('header Cache-Control')]);
    expect(checker.problemsOf('GET', '/things/42', { statusCode: 304, headers: {}, rawPayload: Buffer.from('x') })).toEqual([expect.stringContaining('a body where none')]);
  });

  it('leaves alone what no documented operation serves', () => {
    expect(checker.problemsOf('GET', '/elsewhere', json(404, {}))).toEqual([]);
    expect(checker.problemsOf('PUT', '/things/42', json(404, {}))).toEqual([]);
  });
});
