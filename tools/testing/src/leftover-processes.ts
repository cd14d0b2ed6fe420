import { readdir, readFile } from 'node:fs/promises';

/**
 * Every process a test run starts carries this variable (set by the global setup, passed on
 * by `TestStack` and the soak), so the global teardown can find any that outlived its test —
 * a worker killed mid-teardown leaves its services running, and a run is not over while they
 * hold on.
 */
export const TEST_RUN_VARIABLE = 'IMAGEHOST_TEST_RUN';

/** The marker to put into a spawned process's environment (empty outside a test run). */
export function testRunMarker(): Record<string, string> {
  const run = process.env[TEST_RUN_VARIABLE];
  return run === undefined ? {} : { [TEST_RUN_VARIABLE]: run };
}

/**
 * Kills (SIGKILL) every process of this user marked with `run`, except the caller, and returns
 * a line describing each. Reads `/proc`, so on a system without it nothing is found.
 */
export async function killLeftoverProcesses(run: string): Promise<string[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const marker = `${TEST_RUN_VARIABLE}=${run}`;
  const killed: string[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const environment = await readFile(`/proc/${pid}/environ`).catch(() => undefined);
    if (environment === undefined || !environment.toString('utf8').split('\0').includes(marker)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`).then(
      (bytes) => bytes.toString('utf8').split('\0').join(' ').trim(),
      () => '?',
    );
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(`${pid} ${command}`);
    } catch {
      // It ended meanwhile.
    }
  }
  return killed;
}
