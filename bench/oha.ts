import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BackendUnavailableError, cachedBuild, commandExists, runCommand } from '@imagehost/backends';

// The HTTP load generator: oha, a Rust program, so the client spends a fraction of the CPU a
// Node client does and leaves the cores to the processes under test. Built from the Rust
// crate registry with cargo (pinned, `--locked`) and cached like the backends' binaries.

export const OHA_VERSION = '1.16.0';

export async function ohaBinary(): Promise<string> {
  return cachedBuild(
    `oha-${OHA_VERSION}`,
    `oha ${OHA_VERSION} with cargo (several minutes, once)`,
    async (workDir) => {
      if (!(await commandExists('cargo', ['--version']))) throw new BackendUnavailableError('cargo is not installed, so the load generator oha cannot be built: install Rust (cargo).');
      const result = await runCommand('cargo', ['install', 'oha', '--locked', '--version', OHA_VERSION, '--root', workDir]);
      return { ...result, artifact: join(workDir, 'bin', 'oha') };
    },
    'is the Rust crate registry reachable?',
  );
}

export interface OhaRun {
  /**
   * One URL, or a file of URLs each request picks from at random. One host and port per
   * run: oha sends each request over a keep-alive connection it already holds, whatever
   * host the URL names.
   */
  readonly target: { readonly url: string } | { readonly urlsFile: string };
  readonly concurrency: number;
  /** Run this long… */
  readonly durationMs?: number;
  /** …or this many requests. */
  readonly requests?: number;
  readonly method?: 'GET' | 'POST';
  readonly bodyFile?: string;
  readonly contentType?: string;
}

export interface OhaResult {
  readonly requests: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statuses: Record<string, number>;
  readonly errors: Record<string, number>;
}

interface OhaJson {
  summary: { total: number; requestsPerSec: number };
  latencyPercentiles: Record<string, number | null>;
  statusCodeDistribution: Record<string, number>;
  errorDistribution: Record<string, number>;
}

export async function runOha(binary: string, run: OhaRun): Promise<OhaResult> {
  // `-w`: requests in flight at the deadline finish and count, rather than being cut off as errors.
  const args = ['--no-tui', '--output-format', 'json', '-w', '-c', String(run.concurrency)];
  if (run.durationMs !== undefined) args.push('-z', `${run.durationMs}ms`);
  if (run.requests !== undefined) args.push('-n', String(run.requests));
  if (run.method !== undefined) args.push('-m', run.method);
  if (run.bodyFile !== undefined) args.push('-D', run.bodyFile);
  if (run.contentType !== undefined) args.push('-T', run.contentType);
  args.push(...('urlsFile' in run.target ? ['--urls-from-file', run.target.urlsFile] : [run.target.url]));
  const { stdout } = await promisify(execFile)(binary, args, { maxBuffer: 64 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as OhaJson;
  const requests = Object.values(parsed.statusCodeDistribution).reduce((sum, n) => sum + n, 0) + Object.values(parsed.errorDistribution).reduce((sum, n) => sum + n, 0);
  return {
    requests,
    seconds: parsed.summary.total,
    perSecond: parsed.summary.requestsPerSec,
    p50Ms: (parsed.latencyPercentiles.p50 ?? Number.NaN) * 1000,
    p99Ms: (parsed.latencyPercentiles.p99 ?? Number.NaN) * 1000,
    statuses: parsed.statusCodeDistribution,
    errors: parsed.errorDistribution,
  };
}
