// `npm start`: the whole system on one machine. Brings up the backends (from the
// environment, containers or local processes, see @imagehost/backends), then one process per
// service with prefixed logs, and stops everything on Ctrl-C or SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { backendEnvironment, provideBackends } from '@imagehost/backends';
import { errorMessage } from '@imagehost/errors';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const SERVICES = ['gateway', 'ingest', 'reaper'] as const;
const SHUTDOWN_GRACE_MS = 15_000;

function pipeWithPrefix(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WritableStream): void {
  createInterface({ input: stream }).on('line', (line) => out.write(`${prefix} ${line}\n`));
}

async function main(): Promise<void> {
  const dataRoot = process.env.IMAGEHOST_DATA_DIR ?? join(repoRoot, '.data');
  const backends = await provideBackends({ dataRoot });
  const { settings, sources } = backends;
  console.log(`[stack] redis  ${settings.redisUrl} (${sources.redis})`);
  console.log(`[stack] mongo  ${settings.mongoUrl} (${sources.mongo})`);
  console.log(`[stack] s3     ${settings.s3.endpoint} bucket=${settings.s3.bucket} (${sources.s3})`);

  const children = new Map<string, ChildProcess>();
  let stopping = false;

  const stopAll = async (exitCode: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      console.log('[stack] stopping');
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) {
                resolve();
                return;
              }
              const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_GRACE_MS);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
      await backends.stop();
    }
    process.exit(exitCode);
  };

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stopAll(0));
  }

  // Loopback unless told otherwise: a developer's stack is not a public service.
  const env = { HOST: '127.0.0.1', OPS_HOST: '127.0.0.1', SHUTDOWN_DRAIN_MS: '0', ...process.env, ...backendEnvironment(settings) };
  for (const name of SERVICES) {
    const entry = join(repoRoot, 'services', name, 'dist', 'main.js');
    if (!existsSync(entry)) continue;
    const child = spawn(process.execPath, ['--enable-source-maps', entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.set(name, child);
    const prefix = `[${name}]`.padEnd(10);
    pipeWithPrefix(child.stdout, prefix, process.stdout);
    pipeWithPrefix(child.stderr, prefix, process.stderr);
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[stack] ${name} exited unexpectedly (code ${code ?? 'none'}, signal ${signal ?? 'none'}); stopping the stack`);
      void stopAll(1);
    });
  }

  if (children.size === 0) {
    console.log('[stack] no services built yet; the backends stay up until Ctrl-C');
  } else {
    console.log(`[stack] started ${[...children.keys()].join(', ')}; Ctrl-C stops everything`);
  }
}

main().catch((error: unknown) => {
  console.error(`[stack] ${errorMessage(error)}`);
  process.exit(1);
});
