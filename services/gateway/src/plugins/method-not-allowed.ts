import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '@imagehost/errors';

/** The order methods are listed in `Allow`. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

interface ServedPath {
  readonly url: string;
  /** The path as the router matches it: `:name` is one non-empty segment. */
  readonly pattern: RegExp;
  readonly parameters: number;
  readonly methods: ReadonlySet<string>;
}

function servedPath(url: string, methods: ReadonlySet<string>): ServedPath {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+');
  return { url, pattern: new RegExp(`^${escaped}$`), parameters: (url.match(/:/g) ?? []).length, methods };
}

/**
 * A method a path does not serve is `405 Method Not Allowed`, with `Allow` naming the methods
 * it does (RFC 9110 §15.5.6), instead of a 404 that says the resource does not exist. A path
 * no route serves stays 404. Paths are read as OpenAPI reads the document: a path with fewer
 * parameters wins, so `/openapi.json` serves GET only, though the router would hand a PATCH
 * of it to `/:imageKey` (and `HEAD /` to `HEAD /:imageKey`, with an empty key). OPTIONS is
 * always listed: CORS answers it on every path. Register after CORS (refusals carry its
 * headers) and before every route.
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
    let served: ServedPath[] = [];
    /** Per route: its path, and the paths with fewer parameters that would take a request from it. */
    const routes = new Map<string, { readonly path: ServedPath; readonly staticWinners: ReadonlySet<string>; readonly winners: readonly RegExp[] }>();
    app.addHook('onReady', async () => {
      served = [...methodsByUrl].map(([url, methods]) => servedPath(url, methods)).sort((a, b) => a.parameters - b.parameters);
      for (const path of served) {
        const fewer = served.filter((other) => other.parameters < path.parameters);
        routes.set(path.url, {
          path,
          staticWinners: new Set(fewer.filter((other) => other.parameters === 0).map((other) => other.url)),
          winners: fewer.filter((other) => other.parameters > 0).map((other) => other.pattern),
        });
      }
    });

    /** The paths `path` belongs to: those that match it with the fewest parameters. */
    const pathsOf = (path: string): ServedPath[] => {
      const first = served.find(({ pattern }) => pattern.test(path));
      return first === undefined ? [] : served.filter((candidate) => candidate.parameters === first.parameters && candidate.pattern.test(path));
    };

    // In onRequest, before the body is parsed: the method decides, whatever the body holds.
    // A request that reached its own route pays a map lookup, a set lookup and one pattern.
    app.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?')[0] ?? '';
      if (!request.is404) {
        const route = routes.get(request.routeOptions.url ?? '');
        // No entry: a wildcard route, CORS's preflights.
        if (route === undefined) return;
        if (route.path.pattern.test(path) && !route.staticWinners.has(path) && !route.winners.some((pattern) => pattern.test(path))) return;
      }
      const paths = pathsOf(path);
      if (paths.length === 0) return;
      const allowed = new Set(paths.flatMap(({ methods }) => [...methods]).concat('OPTIONS'));
      const allow = METHOD_ORDER.filter((method) => allowed.has(method)).join(', ');
      void reply.header('allow', allow);
      throw new AppError('METHOD_NOT_ALLOWED', `${request.method.slice(0, 20)} is not served here; this path serves ${allow}`);
    });
  },
  { name: 'method-not-allowed' },
);
