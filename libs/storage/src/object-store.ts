import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { Client, CopyDestinationOptions, CopySourceOptions, type BucketItem } from 'minio';
import { AppError } from '@imagehost/errors';
import { ObjectRequests } from './object-requests.js';

export interface ObjectStoreSettings {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  readonly bucket: string;
  /** A call with no response headers after this long, or a body stalled this long, fails (default 15 s). */
  readonly timeoutMs?: number;
}

/** Told of every call: its operation, how it ended (`unavailable`: an outage) and how long it took. */
export type S3CallObserver = (operation: string, outcome: 'ok' | 'error' | 'unavailable', seconds: number) => void;

/** User metadata of an object: lower-case names, ASCII values (S3 sends them as headers). */
export type ObjectMetadata = Readonly<Record<string, string>>;

/** An object as a bucket listing shows it. */
export interface ListedObject {
  readonly key: string;
  readonly lastModified: Date;
}

/** One S3 ListObjectsV2 reply's worth. */
const LIST_PAGE_SIZE = 1000;

/** The largest object the services write, each in one atomic PutObject from memory. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
const DEFAULT_S3_TIMEOUT_MS = 15_000;

// S3 error codes meaning "no such object", as S3 servers spell them.
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);

/**
 * The HTTP transport of every S3 call, with a deadline: a hung or blackholed S3 must give the
 * caller a 503 in bounded time, not hold its request (and an upload's memory) forever.
 * The deadline runs from the call (waiting for a pooled socket included) to the response
 * headers; after that a body that stalls for as long is cut.
 */
function transportWithDeadline(base: typeof http | typeof https, timeoutMs: number): Pick<typeof http, 'request'> {
  const request = (options: http.RequestOptions, onResponse?: (response: http.IncomingMessage) => void): http.ClientRequest => {
    const call = base.request(options, onResponse);
    const deadline = setTimeout(() => call.destroy(new Error(`S3 did not answer within ${timeoutMs} ms`)), timeoutMs);
    call.once('response', (response) => {
      clearTimeout(deadline);
      response.setTimeout(timeoutMs, () => response.destroy(new Error(`S3 stalled for ${timeoutMs} ms mid-body`)));
    });
    call.once('close', () => clearTimeout(deadline));
    return call;
  };
  return { request: request as typeof http.request };
}

function errorCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function isObjectNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NOT_FOUND_CODES.has(code);
}

/**
 * The S3 bucket holding image bytes, one object per image version. Objects are written in
 * one `PutObject` from memory, so a partly received upload can never become visible, and
 * are never modified afterwards (a new version is a new object).
 */
export class ObjectStore {
  readonly bucket: string;
  private readonly client: Client;
  private readonly requests: ObjectRequests;
  private readonly region: string;

  constructor(
    settings: ObjectStoreSettings,
    /** Told of every call, for latency and error metrics. */
    private readonly observeCall?: S3CallObserver,
  ) {
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    const base = useSSL ? https : http;
    this.bucket = settings.bucket;
    this.region = settings.region;
    // Keep-alive (a fresh TCP connection per object would dominate small reads), and at
    // most 128 sockets, so an S3 outage cannot pile up connections; one pool for both clients.
    const agent = new base.Agent({ keepAlive: true, maxSockets: 128 });
    const transport = transportWithDeadline(base, settings.timeoutMs ?? DEFAULT_S3_TIMEOUT_MS);
    this.requests = new ObjectRequests({ url, accessKey: settings.accessKey, secretKey: settings.secretKey, region: settings.region }, transport, agent);
    this.client = new Client({
      endPoint: url.hostname,
      port: Number(url.port || (useSSL ? 443 : 80)),
      useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: true,
      transport,
      transportAgent: agent,
    });
  }

  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      this.observeCall?.(operation, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      // An AppError is a refusal decided here (too large…); anything else is S3 not answering.
      this.observeCall?.(operation, error instanceof AppError ? 'error' : 'unavailable', (performance.now() - started) / 1000);
      if (error instanceof AppError) throw error;
      throw new AppError('BACKEND_UNAVAILABLE', `S3 ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /** Creates the bucket when it does not exist yet (several replicas may race to do it). */
  async ensureBucket(): Promise<void> {
    await this.call('ensureBucket', async () => {
      if (await this.client.bucketExists(this.bucket)) return;
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (error) {
        const code = errorCode(error);
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    });
  }

  /** Succeeds when S3 answers and the bucket exists (readiness). */
  async ping(): Promise<void> {
    await this.call('HeadBucket', async () => {
      if (!(await this.client.bucketExists(this.bucket))) throw new Error(`bucket ${this.bucket} does not exist`);
    });
  }

  /** Removes the (empty) bucket; for tests that made their own. */
  async removeBucket(): Promise<void> {
    await this.call('DeleteBucket', () => this.client.removeBucket(this.bucket));
  }

  /**
   * Writes the object in one PutObject, the Buffer as it is (no copy), and returns the
   * SHA-256 (hex) of its bytes, which S3 checked against what it received. A caller that
   * hashed the bytes already passes `sha256` to spare a second pass (a wrong one fails the put).
   */
  async putObject(key: string, bytes: Buffer, contentType: string, metadata: ObjectMetadata = {}, knownSha256?: string): Promise<string> {
    if (bytes.length > MAX_OBJECT_BYTES) throw new AppError('IMAGE_TOO_LARGE', `objects are limited to ${MAX_OBJECT_BYTES} bytes`);
    const headers = { 'content-type': contentType, ...Object.fromEntries(Object.entries(metadata).map(([name, value]) => [`x-amz-meta-${name}`, value])) };
    const sha256 = knownSha256 ?? createHash('sha256').update(bytes).digest('hex');
    await this.call('PutObject', () => this.requests.put(this.bucket, key, bytes, headers, sha256));
    return sha256;
  }

  /** The user metadata an object was written with, or `undefined` when it does not exist. */
  async objectMetadata(key: string): Promise<ObjectMetadata | undefined> {
    return this.call('HeadObject', async () => {
      try {
        const { metaData } = await this.client.statObject(this.bucket, key);
        return Object.fromEntries(Object.entries(metaData as Record<string, unknown>).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
      } catch (error) {
        if (isObjectNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  /**
   * A stream of the object's bytes (all of them, or `length` bytes from `offset`), or
   * `undefined` when the object does not exist.
   */
  async openObject(key: string, range?: { offset: number; length: number }): Promise<Readable | undefined> {
    return this.call('GetObject', async () => {
      try {
        return await this.requests.get(this.bucket, key, range);
      } catch (error) {
        if (isObjectNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  /**
   * The whole object in memory, refusing objects larger than `maxBytes` before reading
   * them; `undefined` when the object does not exist.
   */
  async readObject(key: string, maxBytes: number): Promise<Buffer | undefined> {
    const stream = await this.openObject(key);
    if (stream === undefined) return undefined;
    return this.call('GetObject', async () => {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) {
          stream.destroy();
          throw new AppError('IMAGE_TOO_LARGE', `object ${key} is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, total);
    });
  }

  /**
   * Copies an object within the bucket, server-side: the same bytes, content type and user
   * metadata under `targetKey`. False when the source does not exist (a move already done).
   */
  async copyObject(sourceKey: string, targetKey: string): Promise<boolean> {
    return this.call('CopyObject', async () => {
      try {
        await this.client.copyObject(
          new CopySourceOptions({ Bucket: this.bucket, Object: sourceKey }),
          new CopyDestinationOptions({ Bucket: this.bucket, Object: targetKey }),
        );
        return true;
      } catch (error) {
        if (isObjectNotFound(error)) return false;
        throw error;
      }
    });
  }

  /**
   * Moves an object within the bucket: a server-side copy, then the source removed, so the
   * bytes are never only in flight. False when the source is already gone (moved before).
   */
  async moveObject(sourceKey: string, targetKey: string): Promise<boolean> {
    if (!(await this.copyObject(sourceKey, targetKey))) return false;
    await this.removeObject(sourceKey);
    return true;
  }

  /** Removes an object; removing one that is already gone succeeds (reaping is idempotent). */
  async removeObject(key: string): Promise<void> {
    await this.call('DeleteObject', () => this.client.removeObject(this.bucket, key));
  }

  /**
   * The objects under `prefix` in key order, `pageSize` at a time. Memory holds one page and
   * one S3 reply however large the bucket; leaving the loop early stops the listing.
   */
  async *listObjectPages(prefix = '', pageSize = LIST_PAGE_SIZE): AsyncGenerator<ListedObject[], void, undefined> {
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, not ${pageSize}`);
    // minio's stream asks S3 for its next reply only as the one it holds runs out.
    const items = (this.client.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<BucketItem>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const page = await this.call('ListObjects', async () => {
          const objects: ListedObject[] = [];
          while (objects.length < pageSize) {
            const next = await items.next();
            if (next.done === true) break;
            if (next.value.name !== undefined) objects.push({ key: next.value.name, lastModified: next.value.lastModified });
          }
          return objects;
        });
        if (page.length > 0) yield page;
        if (page.length < pageSize) return;
      }
    } finally {
      await items.return?.();
    }
  }

  /** Every object key under `prefix`, in key order, in one array: for prefixes known to be small. */
  async listObjectKeys(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of this.listObjectPages(prefix)) for (const object of page) keys.push(object.key);
    return keys;
  }

  /**
   * Aborts every unfinished multipart upload under `prefix`. The services never start one
   * (an upload is at most MAX_OBJECT_BYTES, written in a single PutObject), so any found is
   * a leftover of something else and only holds space. Returns how many objects had one.
   */
  async abortIncompleteUploads(prefix: string): Promise<number> {
    return this.call('AbortMultipartUpload', async () => {
      const keys = new Set<string>();
      for await (const item of this.client.listIncompleteUploads(this.bucket, prefix, true) as AsyncIterable<{ key: string }>) {
        keys.add(item.key);
      }
      for (const key of keys) await this.client.removeIncompleteUpload(this.bucket, key);
      return keys.size;
    });
  }
}
