import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BackendUnavailableError } from '../types.js';

/**
 * Where built backend binaries are kept between runs: outside the repository, so a fresh
 * clone reuses them. `IMAGEHOST_CACHE_DIR` overrides it.
 */
export function binaryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.IMAGEHOST_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'imagehost');
  const dir = join(base, 'bin');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface BuildOutcome {
  readonly code: number | null;
  readonly output: string;
  /** The file or folder the build produced, moved into the cache when the build succeeded. */
  readonly artifact: string;
}

/**
 * Returns the cached artifact `cacheName`, building it first when it is missing. The build
 * writes into a private folder and renames into place, so concurrent first runs never see a
 * half-written artifact.
 */
export async function cachedBuild(
  cacheName: string,
  what: string,
  build: (workDir: string) => Promise<BuildOutcome>,
  failureHint: string,
): Promise<string> {
  const cacheDir = binaryCacheDir();
  const target = join(cacheDir, cacheName);
  if (existsSync(target)) return target;

  process.stderr.write(`[backends] building ${what} once; later starts reuse ${target}\n`);
  const workDir = mkdtempSync(join(cacheDir, `.build-${cacheName}-`));
  try {
    const result = await build(workDir);
    if (result.code !== 0 || !existsSync(result.artifact)) {
      throw new BackendUnavailableError(`Building ${what} failed (${failureHint}): ${result.output.trim().slice(-1500)}`);
    }
    try {
      renameSync(result.artifact, target);
    } catch (error) {
      // Another first run finished the same build first; its artifact is as good as ours.
      if (!existsSync(target)) throw error;
    }
    return target;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
