import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
