import { existsSync } from 'node:fs';
import { BackendUnavailableError } from '../types.js';
import { commandExists, runCommand } from './run-command.js';

export interface DebianTool {
  /** Names or absolute paths to look for, in order. */
  readonly candidates: readonly string[];
  /** Arguments that make the command print its version and exit. */
  readonly versionArgs?: readonly string[];
  /** The Debian packages that provide it. */
  readonly packages: readonly string[];
  /** What to do instead when it cannot be installed, e.g. "set REDIS_URL". */
  readonly otherwise: string;
}

async function findTool(tool: DebianTool): Promise<string | undefined> {
  for (const candidate of tool.candidates) {
    if (candidate.startsWith('/') ? existsSync(candidate) : await commandExists(candidate, tool.versionArgs)) return candidate;
  }
  return undefined;
}

// One apt-get at a time: backends start in parallel, and dpkg takes a lock.
let aptQueue: Promise<unknown> = Promise.resolve();

/** Finds a command from Debian's packages, installing them with apt-get when it is missing. */
export async function debianTool(tool: DebianTool): Promise<string> {
  const turn = aptQueue.then(() => findOrInstall(tool));
  aptQueue = turn.catch(() => undefined);
  return turn;
}

async function findOrInstall(tool: DebianTool): Promise<string> {
  const found = await findTool(tool);
  if (found !== undefined) return found;

  const packages = tool.packages.join(' ');
  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && (await commandExists('sudo', ['-n', 'true'])) ? ['sudo', '-n'] : [];
  if (!isRoot && sudo.length === 0) {
    throw new BackendUnavailableError(
      `${packages} is not installed and this user cannot install it: run \`apt-get install ${packages}\` as root, or ${tool.otherwise}.`,
    );
  }
  process.stderr.write(`[backends] installing ${packages} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const [command, ...prefix] = [...sudo, 'apt-get'];
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...tool.packages]]) {
    const result = await runCommand(command ?? 'apt-get', [...prefix, ...args], { env });
    if (result.code !== 0) {
      throw new BackendUnavailableError(
        `apt-get ${args[0]} failed while installing ${packages} (${result.output.trim().slice(-500)}): install it by hand or ${tool.otherwise}.`,
      );
    }
  }
  const installed = await findTool(tool);
  if (installed === undefined) throw new BackendUnavailableError(`${packages} is still missing after apt-get install: ${tool.otherwise}.`);
  return installed;
}
