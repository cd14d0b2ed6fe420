import { ERROR_CODES } from '@imagehost/errors';

const errorSchema = {
  type: 'object',
  required: ['statusCode', 'error', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string', description: 'the HTTP reason phrase' },
    code: { type: 'string', enum: Object.keys(ERROR_CODES), description: 'stable, machine-readable' },
    message: { type: 'string' },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const imageKeyParameter = {
  name: 'image_key',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{16}$' },
};

const imageResponseHeaders = {
  ETag: { schema: { type: 'string' }, description: 'strong; the SHA-256 of the bytes' },
  'Last-Modified': { schema: { type: 'string' } },
  'Cache-Control': { schema: { type: 'string' } },
  'Content-Length': { schema: { type: 'integer' } },
  'X-Content-Type-Options': { schema: { type: 'string', enum: ['nosniff'] } },
  'Content-Security-Policy': { schema: { type: 'string' } },
};

/** The public HTTP contract, served at `/openapi.json`. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'imagehost',
    version: '1.0.0',
    description: 'A free public image host. The keys returned at upload are capabilities: keep them to replace or delete the image.',
  },
  paths: {
    '/': {
      post: {
        summary: 'Store an image',
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image'],
                properties: { image: { type: 'string', format: 'binary', description: 'a JPEG or PNG; filename extension jpg, jpeg or png when given' } },
              },
            },
          },
        },
        responses: {
          '201': {
            description: 'Stored and readable at once',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/StoredImage' } } },
          },
          '202': {
            description: 'Accepted; the image becomes readable once ingested (or is refused then)',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/AcceptedImage' } } },
          },
          '400': errorResponse('No image part, several files, an empty file or malformed multipart'),
          '413': errorResponse('Larger than MAX_UPLOAD_BYTES'),
          '415': errorResponse('Not multipart, or not a JPEG/PNG (by extension or by content)'),
          '422': errorResponse('A JPEG/PNG that does not decode, or has more than MAX_IMAGE_PIXELS pixels'),
          '503': errorResponse('Too many uploads in flight or a backend is unavailable; see Retry-After'),
        },
      },
    },
    '/{image_key}': {
      get: {
        summary: 'View an image',
        parameters: [
          imageKeyParameter,
          { name: 'Range', in: 'header', schema: { type: 'string' }, description: 'a single byte range' },
          { name: 'If-None-Match', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'The exact bytes uploaded',
            headers: imageResponseHeaders,
            content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } }, 'image/png': { schema: { type: 'string', format: 'binary' } } },
          },
          '206': { description: 'The requested byte range', headers: { 'Content-Range': { schema: { type: 'string' } } } },
          '304': { description: 'Not modified (If-None-Match / If-Modified-Since)' },
          '404': errorResponse('Unknown, deleted or malformed key'),
          '416': errorResponse('Range not satisfiable'),
          '503': errorResponse('A backend is unavailable'),
        },
      },
      patch: {
        summary: 'Replace an image; the image key stays, both capability keys are rotated',
        parameters: [imageKeyParameter, { name: 'X-Update-Key', in: 'header', schema: { type: 'string' }, description: 'or the form field update_key' }],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image'],
                properties: {
                  image: { type: 'string', format: 'binary' },
                  update_key: { type: 'string', description: 'before or after the file; or the X-Update-Key header' },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Replaced; GET shows the new bytes at once and the old keys are dead',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/StoredImage' } } },
          },
          '202': {
            description: 'Accepted; the replacement applies once ingested, if the update key is still current then',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/AcceptedImage' } } },
          },
          '400': errorResponse('Malformed form'),
          '401': errorResponse('No update key'),
          '403': errorResponse('Wrong update key'),
          '404': errorResponse('Unknown or deleted image'),
          '409': errorResponse('The update key was used by a concurrent replacement'),
          '413': errorResponse('Larger than MAX_UPLOAD_BYTES'),
          '415': errorResponse('Not a JPEG/PNG'),
          '422': errorResponse('Does not decode, or too many pixels; the old image and keys stay'),
          '503': errorResponse('Overloaded or a backend is unavailable'),
        },
      },
      delete: {
        summary: 'Delete an image for good',
        parameters: [imageKeyParameter, { name: 'X-Delete-Key', in: 'header', schema: { type: 'string' }, description: 'or the JSON body' }],
        requestBody: {
          required: false,
          content: { 'application/json': { schema: { type: 'object', required: ['delete_key'], properties: { delete_key: { type: 'string' } } } } },
        },
        responses: {
          '200': {
            description: 'Deleted: every method on this key gives 404 from now on; bytes and record are purged within seconds',
            content: { 'application/json': { schema: { type: 'object', required: ['image_key'], properties: { image_key: { type: 'string' } } } } },
          },
          '400': errorResponse('Malformed body: not JSON, not an object, or a delete_key that is not a string'),
          '401': errorResponse('No delete key'),
          '403': errorResponse('Wrong delete key'),
          '404': errorResponse('Unknown or already deleted image'),
          '503': errorResponse('A backend is unavailable'),
        },
      },
      head: {
        summary: 'The headers of GET without the body',
        parameters: [imageKeyParameter],
        responses: { '200': { description: 'As GET', headers: imageResponseHeaders }, '404': { description: 'Unknown, deleted or malformed key' } },
      },
    },
  },
  components: {
    schemas: {
      Error: errorSchema,
      StoredImage: {
        type: 'object',
        required: ['image_key', 'delete_key', 'update_key', 'url', 'content_type', 'width', 'height', 'bytes'],
        properties: {
          image_key: { type: 'string' },
          delete_key: { type: 'string', description: 'shown once; only its hash is stored' },
          update_key: { type: 'string', description: 'shown once; only its hash is stored' },
          url: { type: 'string' },
          content_type: { type: 'string', enum: ['image/jpeg', 'image/png'] },
          width: { type: 'integer' },
          height: { type: 'integer' },
          bytes: { type: 'integer' },
        },
      },
      AcceptedImage: {
        type: 'object',
        required: ['image_key', 'delete_key', 'update_key', 'url', 'status'],
        properties: {
          image_key: { type: 'string' },
          delete_key: { type: 'string' },
          update_key: { type: 'string' },
          url: { type: 'string' },
          status: { type: 'string', enum: ['processing'] },
          content_type: { type: 'string', enum: ['image/jpeg', 'image/png'] },
          bytes: { type: 'integer' },
        },
      },
    },
  },
} as const;
