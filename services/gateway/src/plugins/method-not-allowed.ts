import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '@imagehost/errors';

/** The order methods are listed in `Allow`. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** A route's path as the router matches it: `:name` is one non-empty segment. */
function pathPattern(url: string): RegExp {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}

/**
 * A method no route of a path serves is `405 Method Not Allowed`, with `Allow` naming the
 * methods that are served there (RFC 9110 §15.5.6), instead of a 404 that says the resource
 * does not exist. A path no route serves stays 404. OPTIONS is always listed: CORS answers it
 * on every path. Register after CORS (refusals carry its headers) and before every route.
 */
export const methodNotAllowedPlugin = fp(
  async (app: FastifyInstance) => {
    const methodsByUrl = new Map<string, Set<string>>();
    app.addHook('onRoute', (route) => {
      if (route.url.includes('*')) return;
      const methods = methodsByUrl.get(route.url) ?? new Set<string>();
      for (const method of [route.method].flat()) methods.add(method);
      methodsByUrl.set(route.url, methods);
    });
    let served: { readonly pattern: RegExp; readonly methods: ReadonlySet<string> }[] = [];
    const patternOf = new Map<string, RegExp>();
    app.addHook('onReady', async () => {
      for (const url of methodsByUrl.keys()) patternOf.set(url, pathPattern(url));
      served = [...methodsByUrl].map(([url, methods]) => ({ pattern: pathPattern(url), methods }));
    });

    // In onRequest, before the body is parsed: the method decides, whatever the body holds.
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      // The router also gives a parameter the empty string (`HEAD /` reaches `HEAD /:imageKey`):
      // such a request reached no route as the document reads the paths. (Wildcards: CORS's.)
      const route = request.is404 ? undefined : request.routeOptions.url;
      if (route !== undefined && (patternOf.get(route)?.test(path) ?? true)) return;
      const allowed = new Set(served.filter(({ pattern }) => pattern.test(path)).flatMap(({ methods }) => [...methods]));
      if (allowed.size === 0) return;
      allowed.add('OPTIONS');
      const allow = METHOD_ORDER.filter((method) => allowed.has(method)).join(', ');
      void reply.header('allow', allow);
      throw new AppError('METHOD_NOT_ALLOWED', `${request.method.slice(0, 20)} is not served here; this path serves ${allow}`);
    });
  },
  { name: 'method-not-allowed' },
);
