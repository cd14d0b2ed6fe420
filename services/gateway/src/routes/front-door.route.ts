import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { negotiate } from '@fastify/accept-negotiator';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ifNoneMatchMatches } from '../reads/conditional.js';
import type { LifetimePolicy } from '../uploads/lifetime.js';
import { ANY_ROUTE_RESPONSES } from './schemas.js';

export interface FrontDoorOptions {
  readonly maxUploadBytes: number;
  /** Where uploaded images are linked (the preview's origin), when not this host. */
  readonly publicBaseUrl: string | undefined;
  /** The lifetimes the page offers: none longer than the cap, the default selected. */
  readonly lifetime: LifetimePolicy;
}

/** A file of the upload page, read once at start and served from memory. */
interface PageFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

// The page's files sit beside src/ and dist/ (not in either), so the build and the container
// image carry them as they are: no bundler, no copy step.
const PUBLIC_DIR = new URL('../../public/', import.meta.url);

function pageFile(name: string, contentType: string, fill: (text: string) => string = (text) => text): PageFile {
  const body = Buffer.from(fill(readFileSync(new URL(name, PUBLIC_DIR), 'utf8')));
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

function readableSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

/**
 * No inline script or style, nothing from elsewhere but the images' own host; the page may
 * call only this host.
 */
function contentSecurityPolicy(publicBaseUrl: string | undefined): string {
  const images = ["'self'", 'blob:', ...(publicBaseUrl === undefined ? [] : [new URL(publicBaseUrl).origin])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${images}`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const indexJson = {
  description: 'How to upload, and where this document is (for any Accept but one that prefers text/html)',
  type: 'object',
  required: ['service', 'upload', 'openapi'],
  properties: { service: { type: 'string' }, upload: { type: 'string' }, openapi: { type: 'string' } },
} as const;

const assetSchema = (summary: string, mediaType: string) => ({
  summary,
  response: {
    200: { description: summary, content: { [mediaType]: { schema: { type: 'string' } } } },
    304: { description: 'Not modified (If-None-Match)' },
    ...ANY_ROUTE_RESPONSES,
  },
});

/**
 * `GET /`: the upload page for a browser (an `Accept` that prefers `text/html`), the JSON
 * front door for everyone else; and the page's script and style sheet.
 */
export async function frontDoorRoutes(app: FastifyInstance, options: FrontDoorOptions): Promise<void> {
  const page = pageFile('index.html', 'text/html; charset=utf-8', (text) =>
    text
      .replaceAll('{{MAX_UPLOAD_BYTES}}', String(options.maxUploadBytes))
      .replaceAll('{{MAX_UPLOAD_SIZE}}', readableSize(options.maxUploadBytes))
      .replaceAll('{{MAX_IMAGE_LIFETIME}}', String(options.lifetime.maxSeconds ?? ''))
      .replaceAll('{{DEFAULT_IMAGE_LIFETIME}}', String(options.lifetime.defaultSeconds ?? '')),
  );
  const script = pageFile('upload.js', 'text/javascript; charset=utf-8');
  const styles = pageFile('upload.css', 'text/css; charset=utf-8');
  // Without one, browsers ask for /favicon.ico, which names no image here.
  const icon = pageFile('icon.svg', 'image/svg+xml');
  const policy = contentSecurityPolicy(options.publicBaseUrl);

  const sendFile = (reply: FastifyReply, file: PageFile, ifNoneMatch: string | undefined) => {
    void reply.headers({
      'content-security-policy': policy,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // Revalidated on every load: a new version of the gateway shows at once.
      'cache-control': 'no-cache',
      etag: file.etag,
    });
    if (ifNoneMatchMatches(ifNoneMatch, file.etag)) return reply.status(304).send();
    return reply.type(file.contentType).send(file.body);
  };

  app.get(
    '/',
    {
      schema: {
        summary: 'Where to start: the upload page for browsers, else how to use the API',
        response: {
          200: {
            description: 'The upload page when Accept prefers text/html; else the JSON front door',
            headers: {
              Vary: { type: 'string', description: 'Accept (and Origin when CORS_ORIGINS lists origins)' },
              'Content-Security-Policy': { type: 'string', description: 'with the upload page: nothing inline, nothing from elsewhere' },
            },
            content: { 'application/json': { schema: indexJson }, 'text/html': { schema: { type: 'string' } } },
          },
          304: { description: 'The upload page has not changed (If-None-Match)' },
          ...ANY_ROUTE_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const vary = reply.getHeader('vary');
      void reply.header('vary', vary === undefined ? 'Accept' : `${String(vary)}, Accept`);
      if (negotiate(request.headers.accept ?? '', ['application/json', 'text/html']) === 'text/html') {
        return sendFile(reply, page, request.headers['if-none-match']);
      }
      return reply.type('application/json; charset=utf-8').send({ service: 'imagehost', upload: 'POST / (multipart/form-data, file part "image")', openapi: '/openapi.json' });
    },
  );
  app.get('/assets/upload.js', { schema: assetSchema('The upload page’s script', 'text/javascript') }, async (request, reply) =>
    sendFile(reply, script, request.headers['if-none-match']),
  );
  app.get('/assets/upload.css', { schema: assetSchema('The upload page’s style sheet', 'text/css') }, async (request, reply) =>
    sendFile(reply, styles, request.headers['if-none-match']),
  );
  app.get('/assets/icon.svg', { schema: assetSchema('The upload page’s icon', 'image/svg+xml') }, async (request, reply) =>
    sendFile(reply, icon, request.headers['if-none-match']),
  );
}
