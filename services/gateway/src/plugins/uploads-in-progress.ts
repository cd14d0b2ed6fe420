import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '@imagehost/errors';

const RETRY_AFTER_SECONDS = 2;

/** POST / and PATCH /{image_key}: the requests that carry an upload body. */
export function isUploadRequest(request: FastifyRequest): boolean {
  return request.method === 'PATCH' || (request.method === 'POST' && request.routeOptions.url === '/');
}

/**
 * A cap on the uploads one client address has in progress on this process, counted from the
 * request's arrival until its answer is on its way (a refusal may still be reading and
 * discarding the rest of the body then) or its connection is gone. Per process, not
 * shared across replicas: what it protects (sockets and the upload memory budget) is per
 * process too, and a shared counter would need a Redis round trip per upload and a lease for
 * counts that a killed process never gives back.
 */
export const uploadsInProgressPlugin = fp(
  async (app: FastifyInstance, options: { readonly perClient: number }) => {
    if (options.perClient === 0) return;
    const inProgress = new Map<string, number>();
    const release = (client: string) => {
      const left = (inProgress.get(client) ?? 1) - 1;
      if (left > 0) inProgress.set(client, left);
      else inProgress.delete(client);
    };
    const releaseOf = new WeakMap<FastifyRequest, () => void>();
    app.addHook('onRequest', async (request, reply) => {
      if (!isUploadRequest(request)) return;
      const client = request.ip;
      const count = inProgress.get(client) ?? 0;
      if (count >= options.perClient) {
        throw new AppError('TOO_MANY_UPLOADS_IN_PROGRESS', `this client already has ${count} uploads in progress; retry once one is done`, {
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        });
      }
      inProgress.set(client, count + 1);
      let released = false;
      const releaseOnce = () => {
        if (released) return;
        released = true;
        release(client);
      };
      releaseOf.set(request, releaseOnce);
      reply.raw.once('close', releaseOnce);
    });
    app.addHook('onSend', async (request) => {
      releaseOf.get(request)?.();
    });
  },
  { name: 'uploads-in-progress' },
);
