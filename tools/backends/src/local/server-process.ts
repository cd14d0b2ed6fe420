import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '@imagehost/errors';
import { BackendUnavailableError } from '../types.js';

export interface ServerProcessOptions {
  /** A short name for messages, e.g. `redis`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** stdout and stderr of the server go here, so a failure can quote them. */
  readonly logFile: string;
  /**
   * Resolves once the server answers its own protocol; called until it does, with the
   * server's process id (to tell it from another server that took the port first).
   */
  readonly probe: (pid: number) => Promise<void>;
  readonly startTimeoutMs?: number;
}

export interface ServerProcess {
  readonly pid: number;
  readonly stop: () => Promise<void>;
}

const liveChildren = new Set<ChildProcess>();

// A last resort for an exit that skipped `stop()`: leave no server behind. Only synchronous
// work is possible here, and SIGKILL is what can be sent synchronously without waiting.
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function tailOf(file: string, bytes = 2000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes).trim();
  } catch {
    return '';
  }
}

/**
 * Starts a server process, waits until its probe succeeds and returns a handle that stops it
 * (SIGTERM, then SIGKILL after a grace period).
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const { name, command, args, env, logFile, probe, startTimeoutMs = 30_000 } = options;
  const logFd = openSync(logFile, 'a');
  const child = spawn(command, [...args], { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...env } });
  closeSync(logFd);
  liveChildren.add(child);

  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      liveChildren.delete(child);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      liveChildren.delete(child);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exitPromise;
    clearTimeout(killTimer);
  };

  const deadline = Date.now() + startTimeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exited) {
      throw new BackendUnavailableError(
        `${name} exited during start-up (${command} ${args.join(' ')}); its log said: ${tailOf(logFile) || '(nothing)'}`,
      );
    }
    try {
      await probe(child.pid ?? -1);
      return { pid: child.pid ?? -1, stop };
    } catch (error) {
      lastError = error;
      await sleep(100);
    }
  }
  await stop();
  const reason = errorMessage(lastError);
  throw new BackendUnavailableError(
    `${name} did not become healthy within ${startTimeoutMs} ms (last probe error: ${reason}); its log said: ${tailOf(logFile) || '(nothing)'}`,
  );
}
