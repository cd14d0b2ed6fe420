import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { freePort, waitFor } from '@imagehost/testing';

// A worker whose backends are down at start waits for them; a SIGTERM meanwhile (a rollout,
// a scale-down) must end it at once, as PID 1 in a container has no default handler.

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('the ingest worker, stuck in start-up on an unreachable Redis', () => {
  it('exits 0 at once on SIGTERM', async () => {
    const dead = await freePort();
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        REDIS_URL: `redis://127.0.0.1:${dead}`,
        MONGO_URL: `mongodb://127.0.0.1:${dead}/`,
        S3_ENDPOINT: `http://127.0.0.1:${dead}`,
        S3_ACCESS_KEY: 'access',
        S3_SECRET_KEY: 'secret',
        OPS_HOST: '127.0.0.1',
        OPS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      await waitFor('the worker to be starting', async () => (output.includes('ops server listening') ? true : undefined), 20_000);
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - sent).toBeLessThan(3_000);
      expect(output).toContain('stopped during start-up');
      expect(output).not.toContain('"msg":"ready"');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
