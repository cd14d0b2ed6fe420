import Fastify, { type FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { errorMessage } from '@imagehost/errors';
import type { Logger } from '@imagehost/logging';
import { within } from './within.js';

/** A dependency the service cannot work without; readiness fails while one fails. */
export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<unknown>;
  /** A backend's own check: also reported as `imagehost_backend_up{backend=name}`. */
  readonly backend?: boolean;
}

/** The checks every service makes: its Redis, MongoDB and S3 each answer. */
export function backendChecks(backends: {
  readonly redis: { ping(): Promise<unknown> };
  readonly images: { ping(): Promise<unknown> };
  readonly objects: { ping(): Promise<unknown> };
}): ReadinessCheck[] {
  return [
    { name: 'redis', check: () => backends.redis.ping(), backend: true },
    { name: 'mongodb', check: () => backends.images.ping(), backend: true },
    { name: 's3', check: () => backends.objects.ping(), backend: true },
  ];
}

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly checks: readonly ReadinessCheck[];
  readonly log: Logger;
  /** More routes on the ops port (the queue dashboard). */
  readonly extend?: (app: FastifyInstance) => Promise<void>;
}

export interface OpsServer {
  readonly port: number;
  /** From now on `/readyz` answers 503, so the load balancer stops sending traffic. */
  markShuttingDown(): void;
  close(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 1500;

/** Runs the checks together, each within CHECK_TIMEOUT_MS: `ok` or what went wrong. */
async function runChecks(checks: readonly ReadinessCheck[]): Promise<(readonly [ReadinessCheck, string])[]> {
  return Promise.all(
    checks.map(async (check) => {
      try {
        await within(CHECK_TIMEOUT_MS, check.check());
        return [check, 'ok'] as const;
      } catch (error) {
        return [check, errorMessage(error)] as const;
      }
    }),
  );
}

/**
 * The ops port, apart from the public one: `/metrics` (Prometheus text), `/healthz` (the
 * process is alive: only a restart helps otherwise) and `/readyz` (its backends answer and
 * it is not shutting down: send it traffic).
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const app = Fastify({ logger: false });
  let shuttingDown = false;

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (shuttingDown) return reply.status(503).send({ status: 'shutting-down' });
    const results = await runChecks(options.checks);
    const ready = results.every(([, outcome]) => outcome === 'ok');
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks: Object.fromEntries(results.map(([check, outcome]) => [check.name, outcome])) });
  });
  // Asked at scrape time, each within CHECK_TIMEOUT_MS: a backend down shows as 0 here while
  // the rest of the scrape still answers.
  const backends = options.checks.filter((check) => check.backend === true);
  new Gauge({
    name: 'imagehost_backend_up',
    help: 'Whether the backend answered its check at this scrape (1) or not (0)',
    labelNames: ['backend'],
    registers: [options.registry],
    async collect() {
      for (const [check, outcome] of await runChecks(backends)) this.set({ backend: check.name }, outcome === 'ok' ? 1 : 0);
    },
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  if (options.extend !== undefined) await options.extend(app);

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  options.log.info({ opsPort: port }, 'ops server listening');
  return {
    port,
    markShuttingDown: () => {
      shuttingDown = true;
    },
    close: () => app.close(),
  };
}
