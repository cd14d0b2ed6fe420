import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'minio';
import type { S3Settings } from '../types.js';
import { findFreePort } from './free-port.js';
import { versitygwBinary } from './go-binaries.js';
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

/** Starts versitygw with its POSIX backend on a free loopback port. */
export async function startLocalVersitygw(
  dataDir: string,
  credentials: { accessKey: string; secretKey: string; region: string },
): Promise<{ endpoint: string; process: ServerProcess }> {
  const binary = await versitygwBinary();
  const port = await findFreePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const root = join(dataDir, 'objects');
  mkdirSync(root, { recursive: true });
  const server = await startServerProcess({
    name: 'versitygw',
    command: binary,
    args: [
      '--port', `127.0.0.1:${port}`,
      '--access', credentials.accessKey,
      '--secret', credentials.secretKey,
      '--region', credentials.region,
      '--keep-alive',
      '--quiet',
      'posix',
      root,
    ],
    logFile: join(dataDir, 'versitygw.log'),
    probe: () => pingS3({ endpoint, ...credentials }),
  });
  return { endpoint, process: server };
}
