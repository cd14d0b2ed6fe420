import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'minio';
import type { S3Settings } from '../types.js';
import { freePort } from './free-port.js';
import { MINIO_MODULE, MINIO_VERSION, goToolBinary } from './go-binaries.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

export async function pingS3(settings: Omit<S3Settings, 'bucket'>): Promise<void> {
  const url = new URL(settings.endpoint);
  const client = new Client({
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    region: settings.region,
    pathStyle: true,
  });
  await client.listBuckets();
}

/**
 * Starts the real MinIO server on a free loopback port: on one folder, or erasure-coded over
 * `drives` folders (`objects/drive1` …), as MinIO runs on several drives of one machine.
 */
export async function startLocalMinio(
  dataDir: string,
  credentials: { accessKey: string; secretKey: string; region: string },
  options: { drives?: number } = {},
): Promise<{ endpoint: string; process: ServerProcess; drives: readonly string[] }> {
  const binary = await goToolBinary(MINIO_MODULE, MINIO_VERSION);
  const [port, consolePort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${port}`;
  const root = join(dataDir, 'objects');
  const drives = options.drives === undefined ? [root] : Array.from({ length: options.drives }, (_, index) => join(root, `drive${index + 1}`));
  for (const drive of drives) mkdirSync(drive, { recursive: true });
  const server = await startServerProcess({
    name: 'MinIO',
    command: binary,
    args: ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, ...drives],
    env: {
      MINIO_ROOT_USER: credentials.accessKey,
      MINIO_ROOT_PASSWORD: credentials.secretKey,
      MINIO_REGION: credentials.region,
      // No web console and no update checks: this server is for the project's own processes.
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      // Several drive folders on one filesystem are refused as "part of the root drive" otherwise.
      ...(drives.length > 1 ? { MINIO_CI_CD: 'on' } : {}),
    },
    logFile: join(dataDir, 'minio.log'),
    probe: () => pingS3({ endpoint, ...credentials }),
  });
  return { endpoint, process: server, drives };
}
