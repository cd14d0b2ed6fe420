import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '@imagehost/errors';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Whether `presented` is the admin token. Both sides are hashed first, so the comparison takes
 * the same time whatever the presented value's length or how much of it matches.
 */
export function isAdminToken(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digest(presented), expectedDigest);
}

/** The bearer token of an `Authorization` header; `undefined` when there is none. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  // Another scheme, or a malformed header, presents no token that could be right: 403.
  return match?.[1] ?? '';
}

/**
 * Every admin route needs `Authorization: Bearer <ADMIN_TOKEN>`: absent, 401 with
 * `WWW-Authenticate`; anything else, 403. Checked before any route runs (or any body is read).
 */
export const adminAuthPlugin = fp(
  async (app: FastifyInstance, options: { readonly token: string }) => {
    const expected = digest(options.token);
    app.addHook('onRequest', async (request, reply) => {
      const presented = bearerToken(request);
      if (presented === undefined) {
        void reply.header('www-authenticate', 'Bearer realm="imagehost-admin"');
        throw new AppError('ADMIN_TOKEN_MISSING', 'the admin API needs Authorization: Bearer <ADMIN_TOKEN>');
      }
      if (!isAdminToken(presented, expected)) throw new AppError('ADMIN_TOKEN_INVALID', 'the admin token is wrong');
    });
  },
  { name: 'admin-auth' },
);
