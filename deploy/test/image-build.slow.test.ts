import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fixtures, freePort, request, ServiceProcess, TestStack, testRunMarker, uploadImage, waitFor, type ServiceName } from '@imagehost/testing';
import { assembleContext, isOsPackageStep, parseDockerfile, replayStages, type ReplayedStage } from './dockerfile-replay.js';

// The container image, built without a Docker engine: the build context as .dockerignore
// leaves it, the Dockerfile's COPY and RUN steps replayed in a temporary folder (see
// dockerfile-replay.ts), then each service started from the runtime stage's files with the
// runtime stage's command against the suite's backends. What the replay cannot do is install
// the runtime's OS packages (tini, jemalloc) into the base image; those steps are listed apart.

const root = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES: readonly ServiceName[] = ['gateway', 'ingest', 'reaper'];

let work: string;
let runtime: ReplayedStage;
let stages: ReplayedStage[];
let stack: TestStack | undefined;
const started = new Map<ServiceName, { service: ServiceProcess; env: Record<string, string> }>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'imagehost-image-'));
  const context = join(work, 'context');
  assembleContext(root, context);
  stages = await replayStages(parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8')), context, join(work, 'stages'));
  const last = stages.at(-1);
  if (last === undefined) throw new Error('the Dockerfile has no stage');
  runtime = last;
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the container image, replayed from the Dockerfile', () => {
  it('builds from a context that holds only the services, their libraries and what builds them', () => {
    const context = readdirSync(join(work, 'context')).sort();
    expect(context).toEqual(expect.arrayContaining(['libs', 'package-lock.json', 'package.json', 'services']));
    for (const devOnly of ['tools', 'bench', 'soak', 'scripts', 'node_modules', '.git', 'deploy']) expect(context).not.toContain(devOnly);
    // Only the runtime stage installs OS packages; every step that builds the app was replayed.
    for (const stage of stages.slice(0, -1)) expect(stage.skipped).toEqual([]);
    expect(runtime.skipped.every(isOsPackageStep)).toBe(true);
    process.stdout.write(`image replay: ${stages.flatMap((s) => s.runs.map((r) => `${s.name} ${r.ms} ms: ${r.step.slice(0, 60)}`)).join('\n')}\n`);
  });

  it('runs on Node 24 on Debian trixie slim, under tini, with jemalloc for ingest, OCI labels and a health check', () => {
    const parsed = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    const final = parsed.at(-1);
    expect(final?.base).toBe('node:${NODE_VERSION}-trixie-slim');
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(/^ARG NODE_VERSION=24$/m);
    expect(runtime.entrypoint).toEqual(['tini', '--']);
    expect(runtime.skipped.join('\n')).toMatch(/apt-get install .*\btini\b.*\blibjemalloc2\b/s);
    expect((runtime.cmd ?? []).join(' ')).toMatch(/SERVICE" = ingest \]; then export LD_PRELOAD=\/usr\/local\/lib\/libjemalloc\.so\.2/);
    const labels = (final?.instructions ?? []).filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const label of ['title', 'description', 'version', 'revision']) expect(labels).toContain(`org.opencontainers.image.${label}=`);
    expect(runtime.healthcheck?.join(' ')).toContain('/readyz');
  });

  it('ships production dependencies only, with no dangling links and no sources', () => {
    const modules = join(runtime.dir, 'node_modules');
    for (const devOnly of ['testcontainers', 'typescript', 'jest', 'eslint', '@swc/core', '@imagehost/backends', '@imagehost/testing', 'dockerode', 'ssh2']) {
      expect([devOnly, existsSync(join(modules, devOnly))]).toEqual([devOnly, false]);
    }
    const entries = readdirSync(modules).flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((inner) => `${name}/${inner}`) : [name]));
    for (const name of entries) {
      const path = join(modules, name);
      if (lstatSync(path).isSymbolicLink()) expect([name, existsSync(path) && statSync(path).isDirectory()]).toEqual([name, true]);
    }
    expect(existsSync(join(modules, 'sharp'))).toBe(true);
    for (const service of SERVICES) {
      expect(existsSync(join(runtime.dir, 'services', service, 'dist', 'main.js'))).toBe(true);
      expect(existsSync(join(runtime.dir, 'services', service, 'src'))).toBe(false);
    }
    expect(runtime.user).toBe('node');
    expect(runtime.env.NODE_ENV).toBe('production');
  });

  it('starts each service with the image command, ready on its ops port, and they serve an upload together', async () => {
    stack = await TestStack.start({ services: [] });
    const command = runtime.cmd ?? [];
    expect(command.length).toBeGreaterThan(0);
    for (const name of SERVICES) {
      const opsPort = await freePort();
      // The image's ENV, then what compose or Kubernetes would set; SERVICE picks the process.
      const env = { PATH: process.env.PATH ?? '', ...testRunMarker(), ...runtime.env, ...stack.env, SERVICE: name, OPS_PORT: String(opsPort) };
      const child = spawn(command[0] ?? '', command.slice(1), { cwd: runtime.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const service = new ServiceProcess(name, child, `http://127.0.0.1:${opsPort}`);
      stack.processes.push(service);
      started.set(name, { service, env });
      await waitFor(
        `${name} from the image to answer 200 on /readyz`,
        async () => {
          if (service.exit !== undefined) throw new Error(`${name} exited ${JSON.stringify(service.exit)}:\n${service.lines.slice(-20).join('\n')}`);
          const response = await fetch(`${service.opsUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
          return response.ok ? true : undefined;
        },
        60_000,
        200,
      );
    }
    // The ingest worker decodes with sharp: its native binary survived the prune.
    const image = await fixtures.baselineJpeg();
    const upload = await uploadImage(stack.baseUrl, image);
    expect(upload.status).toBe(201);
    const read = await request(stack.url(`/${String(upload.json?.image_key)}`));
    expect([read.status, read.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    expect(read.body.equals(image)).toBe(true);
    // The upload page's files (beside the gateway's dist/, not built) are in the image and served.
    const page = await request(stack.baseUrl, { headers: { accept: 'text/html' } });
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    for (const asset of ['upload.js', 'upload.css', 'icon.svg']) {
      const served = await request(stack.url(`/assets/${asset}`));
      expect([asset, served.status, served.body.equals(readFileSync(join(root, 'services/gateway/public', asset)))]).toEqual([asset, 200, true]);
    }
  }, 180_000);

  it("the image's HEALTHCHECK passes on each running service", async () => {
    const check = runtime.healthcheck ?? [];
    expect(check.length).toBeGreaterThan(0);
    for (const name of SERVICES) {
      const running = started.get(name);
      expect(running).toBeDefined();
      // The check reads OPS_PORT as set, or the service's default when unset.
      const outcome = await new Promise<number | null>((resolve) => {
        execFile(check[0] ?? '', check.slice(1), { cwd: runtime.dir, env: running?.env }, (error) => resolve(error === null ? 0 : (error.code as number | null)));
      });
      expect([name, outcome]).toEqual([name, 0]);
    }
  });

  it('each service stops cleanly on SIGTERM', async () => {
    for (const name of SERVICES) {
      const running = started.get(name);
      await running?.service.stop('SIGTERM', 30_000);
      expect([name, running?.service.exit]).toEqual([name, { code: 0, signal: null }]);
    }
  }, 120_000);
});
