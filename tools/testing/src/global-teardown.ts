import { TEST_RUN_VARIABLE, killLeftoverProcesses } from './leftover-processes.js';

/** Jest global teardown: stops whatever the global setup started, and anything tests left running. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.imagehostTestBackends?.stop();
  globalThis.imagehostTestBackends = undefined;
  const run = process.env[TEST_RUN_VARIABLE];
  if (run === undefined) return;
  const killed = await killLeftoverProcesses(run);
  if (killed.length > 0) {
    process.stderr.write(`\n[teardown] ${killed.length} process(es) outlived their tests and were killed:\n${killed.map((line) => `  ${line}`).join('\n')}\n`);
  }
}
