import { join } from 'node:path';
import { cachedBuild, debianTool, runCommand } from '@imagehost/backends';

/** Schemathesis, the property-based API fuzzer, from the Python package index; pinned so a run is reproducible. */
export const SCHEMATHESIS_VERSION = '4.32.5';

const PYTHON_CANDIDATES = ['python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3'];
// Schemathesis 4 needs Python 3.10 or newer; venv brings pip along through ensurepip.
const USABLE_PYTHON = 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)';

async function usablePython(): Promise<string> {
  for (const candidate of PYTHON_CANDIDATES) {
    if ((await runCommand(candidate, ['-c', USABLE_PYTHON])).code === 0) return candidate;
  }
  return debianTool({ candidates: ['python3'], packages: ['python3', 'python3-venv'], otherwise: 'install Python 3.10 or newer with its venv module' });
}

/**
 * The command that runs the Schemathesis CLI (`schemathesis run …` is `[...command, 'run', …]`),
 * installed on first use into a virtualenv cached beside the backends' binaries
 * (`~/.cache/imagehost/bin/schemathesis-<version>`), so later runs start at once.
 */
export async function schemathesisCommand(): Promise<readonly string[]> {
  const venv = await cachedBuild(
    `schemathesis-${SCHEMATHESIS_VERSION}`,
    `Schemathesis ${SCHEMATHESIS_VERSION} in a Python virtualenv`,
    async (workDir) => {
      const artifact = join(workDir, 'venv');
      const created = await runCommand(await usablePython(), ['-m', 'venv', artifact]);
      if (created.code !== 0) return { ...created, artifact };
      const pip = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', `schemathesis==${SCHEMATHESIS_VERSION}`];
      return { ...(await runCommand(join(artifact, 'bin', 'python'), pip)), artifact };
    },
    'is the Python package index reachable?',
  );
  // The venv is built elsewhere and moved into the cache, which breaks the absolute paths in
  // its console scripts; its interpreter finds the packages wherever the venv lies.
  return [join(venv, 'bin', 'python'), '-c', 'import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())'];
}
