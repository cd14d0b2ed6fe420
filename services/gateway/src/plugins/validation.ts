import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import type { FastifyError } from 'fastify';
import { AppError, type ErrorCode } from '@imagehost/errors';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_RULE } from '../uploads/idempotency-key.js';

// Route schemas validate input with fastify's own Ajv compiler: one source of truth for what a
// request may hold, the same schemas @fastify/swagger turns into /openapi.json.

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The code a body or query string that fails this route's schema is refused with (default MALFORMED_BODY, BAD_REQUEST). */
    invalidInputCode?: ErrorCode;
  }
}

/**
 * No type coercion: `{"delete_key": 123}` or `{"delete_key": ["k"]}` is a malformed body, not
 * the key "123" or "k". (Headers and path parameters are strings anyway.)
 */
export const AJV_OPTIONS = { customOptions: { coerceTypes: false } } as const;

/** A headers schema as Node hands headers over: names in lower case. */
function withLowerCaseNames(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null) return schema;
  const { properties, required } = schema as { properties?: Record<string, unknown>; required?: string[] };
  return {
    ...schema,
    ...(properties === undefined ? {} : { properties: Object.fromEntries(Object.entries(properties).map(([name, value]) => [name.toLowerCase(), value])) }),
    ...(required === undefined ? {} : { required: required.map((name) => name.toLowerCase()) }),
  };
}

/**
 * fastify's own Ajv compiler, with two differences:
 * - a `multipart/form-data` body schema documents the stream the handler reads (its limits
 *   and refusals are enforced there, part by part) and is never applied to a body fastify has
 *   not buffered;
 * - header names are lower-cased here, as fastify does only for its built-in compiler (the
 *   schemas keep the names' usual case for the document).
 */
export function buildRequestValidator(): ValidatorFactory {
  const fastifyDefault = AjvCompiler();
  return (externalSchemas, options) => {
    const compile = fastifyDefault(externalSchemas, options);
    return (route) => {
      if (route.httpPart === 'headers') return compile({ ...route, schema: withLowerCaseNames(route.schema) as typeof route.schema });
      const streamed = route.httpPart === 'body' && (route as { contentType?: string }).contentType === 'multipart/form-data';
      // The empty schema accepts anything: there is nothing parsed to check yet.
      return compile(streamed ? { ...route, schema: {} } : route);
    };
  };
}

/**
 * The contract's refusal for input that fails its route's schema. Where the contract fixes a
 * code, the schema's failure gets it: a path parameter that is not well formed names nothing
 * (`404`: a malformed or absurdly long image key is an unknown image, never a 400), a bad
 * Idempotency-Key is `INVALID_IDEMPOTENCY_KEY`, a JSON body of the wrong shape `MALFORMED_BODY`.
 */
export function refusalOfInvalidInput(error: FastifyError, invalidInputCode?: ErrorCode): AppError | undefined {
  const failures = error.validation;
  if (failures === undefined) return undefined;
  const field = failures[0]?.instancePath.split('/')[1] ?? '';
  switch (error.validationContext) {
    case 'params':
      return field === 'imageKey' ? new AppError('IMAGE_NOT_FOUND', 'no image has this key') : new AppError('NOT_FOUND', 'nothing has this path');
    case 'headers':
      return field === IDEMPOTENCY_KEY_HEADER
        ? new AppError('INVALID_IDEMPOTENCY_KEY', `the Idempotency-Key header must be ${IDEMPOTENCY_KEY_RULE}`)
        : new AppError('BAD_REQUEST', `the ${field} header is malformed (${error.message})`);
    case 'body':
      return new AppError(invalidInputCode ?? 'MALFORMED_BODY', `the body does not match this route's schema (${error.message})`);
    case 'querystring':
      return new AppError(invalidInputCode ?? 'BAD_REQUEST', `the query string does not match this route's schema (${error.message})`);
    case undefined:
      return new AppError('BAD_REQUEST', error.message);
  }
}
