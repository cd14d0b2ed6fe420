import { randomBytes } from 'node:crypto';

export type FormPart =
  | { readonly name: string; readonly value: string }
  | { readonly name: string; readonly filename?: string; readonly contentType?: string; readonly bytes: Buffer };

/**
 * A multipart/form-data body built byte by byte, so tests control exactly what is sent:
 * part order, filenames (or none), several files, and broken framing.
 */
export function multipartBody(parts: readonly FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `----imagehost-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('bytes' in part) {
      const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"${filename}\r\n`));
      chunks.push(Buffer.from(`Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`));
      chunks.push(part.bytes);
    } else {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}`));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: Record<string, unknown> | undefined;
}

/** One HTTP request with the whole response read; for assertions on status, headers and bytes. */
export async function request(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(30_000) });
  const body = Buffer.from(await response.arrayBuffer());
  let json: Record<string, unknown> | undefined;
  if (body.length > 0 && (response.headers.get('content-type') ?? '').startsWith('application/json')) {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  }
  return { status: response.status, headers: response.headers, body, json };
}

/** `POST /` of one image part, as a browser form would send it. */
export async function uploadImage(baseUrl: string, bytes: Buffer, filename = 'photo.jpg', path = '/'): Promise<HttpResult> {
  const { body, contentType } = multipartBody([{ name: 'image', filename, contentType: 'application/octet-stream', bytes }]);
  return request(`${baseUrl}${path}`, { method: 'POST', body, headers: { 'content-type': contentType } });
}
