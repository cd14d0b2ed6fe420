import { timingSafeEqual } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

export const QUEUE_DASHBOARD_PATH = '/queues';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * bull-board at `/queues` on the ops port, behind HTTP basic auth with `user:password` from
 * the environment. Without credentials it is not mounted at all: a queue UI can retry and
 * delete jobs, so it is never open by default.
 */
export async function mountQueueDashboard(app: FastifyInstance, queues: readonly Queue[], credentials: string): Promise<void> {
  // Loaded only when mounted: bull-board and its UI are heavy, and most processes never need them.
  const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/fastify'),
  ]);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue)), serverAdapter });
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      const given = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : '';
      if (!sameSecret(given, credentials)) {
        return reply.status(401).header('www-authenticate', 'Basic realm="imagehost queues"').send({ statusCode: 401, error: 'Unauthorized' });
      }
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
  });
}
