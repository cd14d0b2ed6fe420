import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from '@jest/globals';
import { TEST_RUN_VARIABLE, killLeftoverProcesses } from '@imagehost/testing';

const started: ChildProcess[] = [];

function idleProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 1000)'], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
  started.push(child);
  return child;
}

const exited = (child: ChildProcess): Promise<NodeJS.Signals | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.signalCode) : new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
});

describe('killLeftoverProcesses', () => {
  it('kills the processes marked with the run, and only those', async () => {
    const run = randomUUID();
    const marked = idleProcess({ [TEST_RUN_VARIABLE]: run });
    const otherRun = idleProcess({ [TEST_RUN_VARIABLE]: randomUUID() });
    const unmarked = idleProcess({});
    // Spawned: each runs node with its environment from here on.
    await Promise.all([marked, otherRun, unmarked].map((child) => once(child, 'spawn')));

    const killed = await killLeftoverProcesses(run);
    expect(killed).toHaveLength(1);
    expect(killed[0]).toMatch(new RegExp(`^${marked.pid} .*setInterval`));
    expect(await exited(marked)).toBe('SIGKILL');
    expect(otherRun.exitCode).toBeNull();
    expect(otherRun.signalCode).toBeNull();
    expect(unmarked.signalCode).toBeNull();
  });
});
