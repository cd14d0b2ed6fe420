import { join } from 'node:path';
import mongoose from 'mongoose';
import { findFreePort } from './free-port.js';
import { ferretdbBinary } from './go-binaries.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

export async function pingMongo(url: string): Promise<void> {
  const connection = mongoose.createConnection(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 });
  try {
    await connection.asPromise();
    await connection.db?.admin().ping();
  } finally {
    await connection.close(true);
  }
}

/** Starts FerretDB with its SQLite backend on a free loopback port. */
export async function startLocalFerretdb(dataDir: string): Promise<{ url: string; process: ServerProcess }> {
  const binary = await ferretdbBinary();
  const port = await findFreePort();
  const url = `mongodb://127.0.0.1:${port}/`;
  const server = await startServerProcess({
    name: 'FerretDB',
    command: binary,
    args: ['-listen', `127.0.0.1:${port}`, '-data', join(dataDir, 'sqlite')],
    logFile: join(dataDir, 'ferretdb.log'),
    probe: () => pingMongo(url),
  });
  return { url, process: server };
}
