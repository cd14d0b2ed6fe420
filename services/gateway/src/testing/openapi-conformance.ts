import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';

/** What a client saw of a response. */
export type SeenResponse = Pick<LightMyRequestResponse, 'statusCode' | 'headers' | 'rawPayload'>;

interface MediaType {
  readonly schema?: unknown;
}
interface DocumentedResponse {
  readonly content?: Readonly<Record<string, MediaType>>;
  readonly headers?: Readonly<Record<string, { readonly schema?: { readonly const?: string } }>>;
}
interface Operation {
  readonly responses: Readonly<Record<string, DocumentedResponse>>;
}
/** The parts of an OpenAPI 3.1 document that responses are checked against. */
export interface OpenApiDocument {
  readonly paths?: Readonly<Record<string, Readonly<Record<string, Operation | undefined>> | undefined>>;
}

const pointerSegment = (text: string) => text.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Checks responses against the OpenAPI document the gateway serves: the status must be
 * listed for the route's operation, the Content-Type among that response's media types (no
 * body where none is documented), the JSON body valid against its schema, and headers the
 * document fixes (`const`) must have that value.
 */
export class OpenApiConformance {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
  private readonly validators = new Map<string, ValidateFunction>();
  /** Path templates, static ones first, as the router prefers them. */
  private readonly templates: { readonly template: string; readonly params: number; readonly pattern: RegExp }[];

  constructor(private readonly document: OpenApiDocument) {
    addFormats.default(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema(document, 'openapi.json');
    this.templates = Object.keys(document.paths ?? {})
      .map((template) => ({
        template,
        params: (template.match(/\{[^}]+\}/g) ?? []).length,
        pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      }))
      .sort((a, b) => a.params - b.params);
  }

  /**
   * The documented operation a request reaches, or undefined when its path lists no such
   * method (405) or no path matches (404). As OpenAPI reads paths, those with the fewest
   * parameters win: `PATCH /openapi.json` is not `PATCH /{imageKey}`.
   */
  operationOf(method: string, url: string): { template: string; operation: Operation } | undefined {
    const path = url.split('?')[0] ?? '';
    const fewest = this.templates.find(({ pattern }) => pattern.test(path))?.params;
    for (const { template, pattern, params } of this.templates) {
      if (params !== fewest || !pattern.test(path)) continue;
      const operation = this.document.paths?.[template]?.[method.toLowerCase()];
      if (operation !== undefined) return { template, operation };
    }
    return undefined;
  }

  /** Problems of one response against the document; empty when it conforms. */
  problemsOf(method: string, url: string, response: SeenResponse): string[] {
    const found = this.operationOf(method, url);
    if (found === undefined) return [];
    const { template, operation } = found;
    const where = `${method.toUpperCase()} ${template} → ${response.statusCode}`;
    const documented = operation.responses[String(response.statusCode)];
    if (documented === undefined) {
      return [`${where}: status not documented (documented: ${Object.keys(operation.responses).join(', ')})`];
    }
    const problems: string[] = [];
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      const fixed = header.schema?.const;
      const sent = response.headers[name.toLowerCase()];
      if (fixed !== undefined && sent !== undefined && String(sent) !== fixed) problems.push(`${where}: header ${name} is ${String(sent)}, documented ${fixed}`);
    }
    const body = response.rawPayload;
    if (documented.content === undefined) {
      if (body.length > 0) problems.push(`${where}: a body where none is documented`);
      return problems;
    }
    if (body.length === 0) return problems;
    const contentType = String(response.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    if (documented.content[contentType] === undefined) {
      return [...problems, `${where}: Content-Type ${contentType} not documented (documented: ${Object.keys(documented.content).join(', ')})`];
    }
    if (contentType !== 'application/json') return problems;
    const pointer = ['paths', template, method.toLowerCase(), 'responses', String(response.statusCode), 'content', contentType, 'schema'].map(pointerSegment).join('/');
    const validate = this.validatorFor(pointer);
    if (!validate(JSON.parse(body.toString('utf8')))) {
      problems.push(`${where}: body does not match its schema: ${this.ajv.errorsText(validate.errors)}`);
    }
    return problems;
  }

  private validatorFor(pointer: string): ValidateFunction {
    let validate = this.validators.get(pointer);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: `openapi.json#/${encodeURI(pointer)}` });
      this.validators.set(pointer, validate);
    }
    return validate;
  }
}
