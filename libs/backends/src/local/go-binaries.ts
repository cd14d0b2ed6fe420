import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from '../types.js';
import { binaryCacheDir } from './cache.js';
import { commandExists, runCommand } from './run-command.js';

export const VERSITYGW_VERSION = 'v1.7.0';
export const FERRETDB_VERSION = 'v1.24.2';

/** The project's own FerretDB launcher (a Go module beside this package's sources). */
const FERRETDB_LAUNCHER_DIR = fileURLToPath(new URL('../../ferretdb/', import.meta.url));

async function requireGo(what: string): Promise<void> {
  if (!(await commandExists('go', ['version']))) {
    throw new BackendUnavailableError(
      `Go is not installed, so ${what} cannot be built: install Go 1.24 or newer, or set the backend URLs (REDIS_URL, MONGO_URL, S3_ENDPOINT with S3_ACCESS_KEY and S3_SECRET_KEY).`,
    );
  }
}

/**
 * Returns the cached binary at `cacheName`, building it first when it is missing. The build
 * writes into a private folder and renames into place, so concurrent first runs never see a
 * half-written binary.
 */
async function cachedGoBinary(
  cacheName: string,
  what: string,
  build: (outputDir: string) => Promise<{ code: number | null; output: string; binary: string }>,
): Promise<string> {
  const cacheDir = binaryCacheDir();
  const target = join(cacheDir, cacheName);
  if (existsSync(target)) return target;

  await requireGo(what);
  process.stderr.write(`[backends] building ${what} once; later starts reuse ${target}\n`);
  const workDir = mkdtempSync(join(cacheDir, `.build-${cacheName}-`));
  try {
    const result = await build(workDir);
    if (result.code !== 0 || !existsSync(result.binary)) {
      throw new BackendUnavailableError(
        `Building ${what} with Go failed (is the Go module proxy reachable?): ${result.output.trim().slice(-1500)}`,
      );
    }
    renameSync(result.binary, target);
    return target;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * A Go command installed from the Go module proxy (`go install package@version`) and cached
 * by name and version.
 */
export async function goToolBinary(packagePath: string, version: string): Promise<string> {
  const name = packagePath.split('/').filter((part) => !/^v\d+$/.test(part)).pop() ?? packagePath;
  return cachedGoBinary(`${name}-${version}`, `${name} ${version}`, async (outputDir) => {
    const result = await runCommand('go', ['install', `${packagePath}@${version}`], {
      env: { ...process.env, GOBIN: outputDir, GOFLAGS: '-buildvcs=false' },
    });
    return { ...result, binary: join(outputDir, name) };
  });
}

/** versitygw, an S3 server with a POSIX backend. */
export async function versitygwBinary(): Promise<string> {
  return goToolBinary('github.com/versity/versitygw/cmd/versitygw', VERSITYGW_VERSION);
}

/**
 * Our fixes to FerretDB's own sources, as whole files laid over its vendored copy at the same
 * path (each change is marked "imagehost patch"). Tied to FERRETDB_VERSION: moving to another
 * version means redoing them. Today: lookups and compare-and-set writes by `_id` use the
 * `_id` index instead of scanning the collection (measured on 3000 records, idle machine: a
 * lookup of the last one 19.8 ms → 0.97 ms, a compare-and-set update 232 ms → 0.76 ms).
 */
const FERRETDB_OVERRIDES_DIR = join(FERRETDB_LAUNCHER_DIR, '_overrides');
const FERRETDB_LAUNCHER_FILES = ['go.mod', 'go.sum', 'main.go'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * FerretDB (MongoDB wire protocol on SQLite), built from the project's launcher with its
 * dependencies vendored and our overrides laid over them. The cache name carries a digest of
 * the launcher and the overrides, so a change to either rebuilds it.
 */
export async function ferretdbBinary(): Promise<string> {
  const overrides = filesUnder(FERRETDB_OVERRIDES_DIR);
  const digest = createHash('sha256');
  for (const file of FERRETDB_LAUNCHER_FILES) digest.update(readFileSync(join(FERRETDB_LAUNCHER_DIR, file)));
  for (const file of overrides) digest.update(file).update(readFileSync(join(FERRETDB_OVERRIDES_DIR, file)));
  const cacheName = `ferretdb-local-${FERRETDB_VERSION}-${digest.digest('hex').slice(0, 12)}`;
  return cachedGoBinary(cacheName, `FerretDB ${FERRETDB_VERSION}`, async (workDir) => {
    const sourceDir = join(workDir, 'src');
    mkdirSync(sourceDir);
    for (const file of FERRETDB_LAUNCHER_FILES) copyFileSync(join(FERRETDB_LAUNCHER_DIR, file), join(sourceDir, file));
    const env = { ...process.env, GOFLAGS: '-buildvcs=false' };
    const vendored = await runCommand('go', ['mod', 'vendor'], { cwd: sourceDir, env });
    const binary = join(workDir, 'ferretdb-local');
    if (vendored.code !== 0) return { ...vendored, binary };
    for (const file of overrides) {
      const target = join(sourceDir, 'vendor', file);
      // An override of a file the version no longer has would silently change nothing.
      if (!existsSync(target)) return { code: 1, output: `FerretDB ${FERRETDB_VERSION} has no ${file} to override`, binary };
      copyFileSync(join(FERRETDB_OVERRIDES_DIR, file), target);
    }
    const built = await runCommand('go', ['build', '-mod=vendor', '-o', binary, '.'], { cwd: sourceDir, env });
    return { ...built, binary };
  });
}
