import { afterEach, describe, expect, it } from '@jest/globals';
import { createLogger } from '@imagehost/logging';
import { createRegistry, startOpsServer, type OpsServer } from '../src/index.js';

// What an operator's scraper and probes see when one backend hangs and another refuses:
// /metrics still answers, with each backend's state; /readyz says which check failed.

const hangs = () => new Promise(() => undefined);
const refuses = () => Promise.reject(new Error('connect ECONNREFUSED'));
const answers = () => Promise.resolve('PONG');

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<OpsServer> {
  server = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    registry: createRegistry('test'),
    log: createLogger('test', 'silent'),
    checks: [
      { name: 'redis', check: hangs, backend: true },
      { name: 'mongodb', check: refuses, backend: true },
      { name: 's3', check: answers, backend: true },
      { name: 'startup', check: answers },
    ],
  });
  return server;
}

describe('the ops server with a hung and a refusing backend', () => {
  it('answers /metrics with imagehost_backend_up per backend and the process metrics', async () => {
    const { port } = await start();
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('imagehost_backend_up{backend="redis",service="test"} 0');
    expect(text).toContain('imagehost_backend_up{backend="mongodb",service="test"} 0');
    expect(text).toContain('imagehost_backend_up{backend="s3",service="test"} 1');
    // Only backends: the start-up check is readiness, not a backend.
    expect(text).not.toContain('backend="startup"');
    expect(text).toMatch(/^process_cpu_user_seconds_total\{service="test"\} /m);
  });

  it('answers /readyz 503 naming what failed', async () => {
    const { port } = await start();
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: 'not-ready',
      checks: { redis: expect.stringMatching(/no answer within/), mongodb: 'connect ECONNREFUSED', s3: 'ok', startup: 'ok' },
    });
  });
});
