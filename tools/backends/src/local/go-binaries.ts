import { join } from 'node:path';
import { BackendUnavailableError } from '../types.js';
import { cachedBuild } from './cache.js';
import { commandExists, runCommand } from './run-command.js';

/**
 * The real MinIO server at the last commit of its community repository (archived, source
 * only: no published binaries or images to pin instead). The compose build stage uses the
 * same module and version.
 */
export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

/**
 * A Go command installed from the Go module proxy (`go install package@version`) and cached
 * by name and version.
 */
export async function goToolBinary(packagePath: string, version: string): Promise<string> {
  const name = packagePath.split('/').filter((part) => !/^v\d+$/.test(part)).pop() ?? packagePath;
  return cachedBuild(
    `${name}-${version}`,
    `${name} ${version} with Go`,
    async (workDir) => {
      if (!(await commandExists('go', ['version']))) {
        throw new BackendUnavailableError(
          `Go is not installed, so ${name} cannot be built: install Go 1.24 or newer, or set the backend URLs (REDIS_URL, MONGO_URL, S3_ENDPOINT with S3_ACCESS_KEY and S3_SECRET_KEY).`,
        );
      }
      const result = await runCommand('go', ['install', `${packagePath}@${version}`], {
        env: { ...process.env, GOBIN: workDir, GOFLAGS: '-buildvcs=false' },
      });
      return { ...result, artifact: join(workDir, name) };
    },
    'is the Go module proxy reachable?',
  );
}
