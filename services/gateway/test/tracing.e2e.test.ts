import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TestStack, fixtures, multipartBody, request, waitFor } from '@imagehost/testing';

// One trace from request to purge, collected the way an OpenTelemetry collector would: the
// services export OTLP/HTTP (JSON) to a receiver in this test, enabled only by the standard
// OTEL_* variables. An upload's trace holds the gateway's request, its S3 write and enqueue,
// the ingest job and the job's S3 read, decode and MongoDB write, each under its parent; a
// DELETE's trace reaches the reaper's purge. Log lines carry the trace and the request id.

interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
}

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }[] }[];
  }[];
}

const SPAN_KIND = { server: 2, producer: 4, consumer: 5 } as const;

const spans: ReceivedSpan[] = [];
let receiver: Server;
let stack: TestStack;

function startReceiver(): Promise<number> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const resource of body.resourceSpans ?? []) {
          const service = resource.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const scope of resource.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) spans.push({ service, parentSpanId: span.parentSpanId ?? '', ...span });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    receiver.listen(0, '127.0.0.1', () => {
      const address = receiver.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

beforeAll(async () => {
  const port = await startReceiver();
  stack = await TestStack.start({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      SUPERSEDED_REAP_DELAY_MS: '0',
    },
  });
});

afterAll(async () => {
  await stack.stop();
  await new Promise((resolve) => receiver.close(resolve));
}, 120_000);

/** The chain of ancestors of `span` in its trace, nearest first, ending at the root. */
function ancestors(span: ReceivedSpan): ReceivedSpan[] {
  const chain: ReceivedSpan[] = [];
  let current: ReceivedSpan | undefined = span;
  while (current !== undefined && current.parentSpanId !== '') {
    const parentId: string = current.parentSpanId;
    current = spans.find((candidate) => candidate.traceId === span.traceId && candidate.spanId === parentId);
    if (current !== undefined) chain.push(current);
  }
  return chain;
}

function find(traceId: string, service: string, name: string | RegExp): ReceivedSpan | undefined {
  return spans.find((span) => span.traceId === traceId && span.service === service && (typeof name === 'string' ? span.name === name : name.test(span.name)));
}

describe('tracing', () => {
  it("an upload is one trace: the request, its S3 write and enqueue, then the ingest job's read, decode and MongoDB write, in parent order", async () => {
    const bytes = await fixtures.rgbPng(21, 13);
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'traced.png', contentType: 'image/png', bytes }]);
    const upload = await request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType, 'x-request-id': 'trace-upload-1' } });
    expect(upload.status).toBe(201);
    expect(upload.headers.get('x-request-id')).toBe('trace-upload-1');

    const root = await waitFor('the POST span', async () => spans.find((s) => s.service === 'imagehost-gateway' && s.name === 'POST /' && s.kind === SPAN_KIND.server), 15_000, 100);
    expect(root.parentSpanId).toBe('');
    const traceId = root.traceId;
    // The job's own span ends after its steps, so it may come in a later batch than they do.
    const job = await waitFor('the ingest job to end', async () => find(traceId, 'imagehost-ingest', /^process ingest/), 15_000, 100);

    const put = find(traceId, 'imagehost-gateway', 's3 PutObject');
    const enqueue = find(traceId, 'imagehost-gateway', /^add ingest/);
    const insert = find(traceId, 'imagehost-ingest', 'mongodb insert');
    const read = find(traceId, 'imagehost-ingest', 's3 GetObject');
    const decode = find(traceId, 'imagehost-ingest', 'decode');
    expect({ put, enqueue, job, read, decode, insert }).toEqual({
      put: expect.anything(),
      enqueue: expect.objectContaining({ kind: SPAN_KIND.producer }),
      job: expect.objectContaining({ kind: SPAN_KIND.consumer }),
      read: expect.anything(),
      decode: expect.anything(),
      insert: expect.anything(),
    });
    expect(ancestors(put as ReceivedSpan).at(-1)).toEqual(root);
    expect(ancestors(enqueue as ReceivedSpan).at(-1)).toEqual(root);
    // The job continues the request's trace through Redis: its parent is the enqueue.
    expect(ancestors(job)[0]).toEqual(enqueue);
    for (const step of [read, decode, insert]) expect(ancestors(step as ReceivedSpan)).toContainEqual(job);

    // Every log line of the job carries the request id and the trace.
    const jobLines = stack.service('ingest').logs().filter((line) => line.imageKey === upload.json?.image_key);
    expect(jobLines.length).toBeGreaterThan(0);
    for (const line of jobLines) expect(line).toMatchObject({ requestId: 'trace-upload-1', trace_id: traceId });
    const requestLine = stack.service('gateway').logs().find((line) => line.reqId === 'trace-upload-1' && line.msg === 'request completed');
    expect(requestLine).toMatchObject({ trace_id: traceId, span_id: root.spanId });
  });

  it("a DELETE's trace reaches the reaper's purge of the bytes and the record", async () => {
    const bytes = await fixtures.rgbPng(17, 11);
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'doomed.png', contentType: 'image/png', bytes }]);
    const upload = await request(stack.url('/'), { method: 'POST', body, headers: { 'content-type': contentType } });
    expect(upload.status).toBe(201);
    const generated = upload.headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);

    const deletion = await request(stack.url(`/${String(upload.json?.image_key)}`), {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-delete-1' },
      body: JSON.stringify({ delete_key: upload.json?.delete_key }),
    });
    expect(deletion.status).toBe(200);
    expect(deletion.headers.get('x-request-id')).toBe('trace-delete-1');

    const root = await waitFor('the DELETE span', async () => spans.find((s) => s.service === 'imagehost-gateway' && s.name === 'DELETE /:imageKey' && s.kind === SPAN_KIND.server), 15_000, 100);
    const purge = await waitFor('the purge to remove the record', async () => find(root.traceId, 'imagehost-reaper', 'mongodb purgeDeleted'), 15_000, 100);
    const job = find(root.traceId, 'imagehost-reaper', /^process reap/);
    const removal = find(root.traceId, 'imagehost-reaper', 's3 DeleteObject');
    expect(job).toEqual(expect.objectContaining({ kind: SPAN_KIND.consumer }));
    expect(ancestors(job as ReceivedSpan).at(-1)).toEqual(root);
    for (const step of [removal, purge]) expect(ancestors(step as ReceivedSpan)).toContainEqual(job);
    const reapLine = stack.service('reaper').logs().find((line) => line.requestId === 'trace-delete-1');
    expect(reapLine).toMatchObject({ target: 'image', trace_id: root.traceId });
  });
});
