import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';
import { cachedBuild } from './cache.js';
import { debianTool } from './debian-packages.js';
import { freePort } from './free-port.js';
import { runCommand } from './run-command.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

/** The project's launcher of mongo-java-server (a Maven project beside this package's sources). */
const LAUNCHER_DIR = fileURLToPath(new URL('../../mongo-launcher/', import.meta.url));

export async function pingMongo(url: string): Promise<void> {
  const connection = mongoose.createConnection(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 });
  try {
    await connection.asPromise();
    await connection.db?.admin().ping();
  } finally {
    await connection.close(true);
  }
}

const javaTool = { candidates: ['java', '/usr/bin/java'], versionArgs: ['-version'], packages: ['openjdk-17-jre-headless'], otherwise: 'set MONGO_URL' };
const mavenTool = { candidates: ['mvn', '/usr/bin/mvn'], versionArgs: ['-v'], packages: ['maven', 'openjdk-17-jdk-headless'], otherwise: 'set MONGO_URL' };

function launcherFiles(): string[] {
  return readdirSync(LAUNCHER_DIR, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(LAUNCHER_DIR, join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * The launcher and its runtime jars, built once with Maven and cached by a digest of the
 * launcher's files (its pom pins mongo-java-server's version). Returns the Java class path.
 */
export async function mongoLauncherClassPath(): Promise<string> {
  const digest = createHash('sha256');
  for (const file of launcherFiles()) digest.update(file).update(readFileSync(join(LAUNCHER_DIR, file)));
  const built = await cachedBuild(
    `mongo-launcher-${digest.digest('hex').slice(0, 12)}`,
    'the mongo-java-server launcher with Maven',
    async (workDir) => {
      const maven = await debianTool(mavenTool);
      const sourceDir = join(workDir, 'src');
      cpSync(LAUNCHER_DIR, sourceDir, { recursive: true });
      const result = await runCommand(maven, ['-B', '-q', 'package'], { cwd: sourceDir });
      return { ...result, artifact: join(sourceDir, 'target') };
    },
    'is Maven Central reachable?',
  );
  return [join(built, 'mongo-launcher-1.jar'), join(built, 'lib', '*')].join(':');
}

/**
 * Starts mongo-java-server with its H2 backend on a free loopback port, its data in one file
 * under `dataDir`. Stopped with SIGTERM, it commits and closes the file; a SIGKILL can lose
 * the last second of writes (the store commits about once a second).
 */
export async function startLocalMongo(dataDir: string): Promise<{ url: string; process: ServerProcess }> {
  const [java, classPath] = await Promise.all([debianTool(javaTool), mongoLauncherClassPath()]);
  const port = await freePort();
  const url = `mongodb://127.0.0.1:${port}/`;
  const server = await startServerProcess({
    name: 'mongo-java-server',
    command: java,
    args: [
      // A small heap with the serial collector: one client machine's data, on a machine whose
      // cores the services need.
      '-Xmx1g',
      '-XX:+UseSerialGC',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp', classPath,
      'imagehost.MongoLauncher', '127.0.0.1', String(port), join(dataDir, 'mongo.mv.db'),
    ],
    logFile: join(dataDir, 'mongo-java-server.log'),
    probe: () => pingMongo(url),
  });
  return { url, process: server };
}
