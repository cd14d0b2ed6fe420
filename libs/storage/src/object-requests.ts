import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import aws4 from 'aws4';

// GetObject and PutObject, the two calls on every read and upload, as SigV4-signed HTTP
// requests of their own: minio-js's public putObject copies every upload, and sending the
// Buffer as it is needed one of its private methods (bench/decisions.md#object-requests).
// Signing is aws4's; the rest of the S3 API stays with minio-js.

export interface S3Endpoint {
  readonly url: URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
}

/** An S3 error answer: `code` is S3's own (`NoSuchKey`, `SlowDown`, …). */
export class S3ResponseError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'S3ResponseError';
  }
}

/** S3 error documents are a few hundred bytes; more than this is not one. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const EMPTY_BODY_SHA256 = createHash('sha256').digest('hex');

function xmlField(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

/** Reads S3's XML error document (the status alone when there is none) into an S3ResponseError. */
async function responseError(response: http.IncomingMessage): Promise<S3ResponseError> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_ERROR_BODY_BYTES) {
      response.destroy();
      break;
    }
    chunks.push(chunk);
  }
  const xml = Buffer.concat(chunks).toString('utf8');
  const status = response.statusCode ?? 0;
  const code = xmlField(xml, 'Code') ?? `HTTP${status}`;
  return new S3ResponseError(status, code, `S3 answered ${status} ${code}: ${xmlField(xml, 'Message') ?? response.statusMessage ?? ''}`);
}

/** Path-style object URL path (aws4 canonicalises it again for the signature). */
function objectPath(bucket: string, key: string): string {
  return `/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export class ObjectRequests {
  constructor(
    private readonly endpoint: S3Endpoint,
    private readonly transport: Pick<typeof http, 'request'>,
    private readonly agent: http.Agent,
  ) {}

  private send(method: 'GET' | 'PUT', bucket: string, key: string, headers: Record<string, string>, body?: Buffer, isRetry = false): Promise<http.IncomingMessage> {
    const { url, accessKey, secretKey, region } = this.endpoint;
    const signed = aws4.sign(
      { protocol: url.protocol, host: url.host, path: objectPath(bucket, key), method, service: 's3', region, headers },
      { accessKeyId: accessKey, secretAccessKey: secretKey },
    );
    return new Promise((resolve, reject) => {
      let answered = false;
      const call = this.transport.request(
        { protocol: url.protocol, hostname: url.hostname, port: url.port, method, path: signed.path, headers: signed.headers as http.OutgoingHttpHeaders, agent: this.agent },
        (response) => {
          answered = true;
          resolve(response);
        },
      );
      call.once('error', (error: NodeJS.ErrnoException) => {
        // S3 closes idle kept-alive sockets (MinIO after 30 s); one closed just as it was reused
        // fails before any answer. A GET, or a PUT of the same bytes to the same new key, is
        // safe to send again, once, on a fresh socket.
        if (!isRetry && !answered && call.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          resolve(this.send(method, bucket, key, headers, body, true));
        } else {
          reject(error);
        }
      });
      call.end(body);
    });
  }

  /**
   * The object's bytes as S3's response stream (`length` bytes from `offset` when given); any
   * other answer, a missing object included, is an S3ResponseError with S3's code.
   */
  async get(bucket: string, key: string, range?: { offset: number; length: number }): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { 'x-amz-content-sha256': EMPTY_BODY_SHA256 };
    if (range !== undefined) headers.range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
    const response = await this.send('GET', bucket, key, headers);
    if (response.statusCode === 200 || response.statusCode === 206) return response;
    throw await responseError(response);
  }

  /**
   * Writes `bytes` as the object in one request, as they are (no copy). The signature covers
   * their SHA-256, so S3 refuses the write unless it received exactly these bytes.
   */
  async put(bucket: string, key: string, bytes: Buffer, headers: Record<string, string>, sha256Hex: string): Promise<void> {
    const response = await this.send('PUT', bucket, key, { ...headers, 'content-length': String(bytes.length), 'x-amz-content-sha256': sha256Hex }, bytes);
    if (response.statusCode !== 200) throw await responseError(response);
    response.resume();
  }
}
