import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { Client, type BucketItem } from 'minio';
import { AppError } from '@imagehost/errors';

export interface ObjectStoreSettings {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  readonly bucket: string;
}

/**
 * The largest object the services write. minio-js switches to a multipart upload above its
 * part size; keeping every object below it keeps every write a single, atomic PutObject.
 */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;

// S3 error codes meaning "no such object", as MinIO and versitygw spell them.
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);

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
  private readonly region: string;

  constructor(settings: ObjectStoreSettings) {
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    this.bucket = settings.bucket;
    this.region = settings.region;
    this.client = new Client({
      endPoint: url.hostname,
      port: Number(url.port || (useSSL ? 443 : 80)),
      useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: true,
      partSize: MAX_OBJECT_BYTES,
      // Keep-alive: a fresh TCP connection per object would dominate small reads.
      transportAgent: useSSL ? new HttpsAgent({ keepAlive: true, maxSockets: 128 }) : new Agent({ keepAlive: true, maxSockets: 128 }),
    });
  }

  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
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

  async putObject(key: string, bytes: Buffer, contentType: string): Promise<void> {
    if (bytes.length > MAX_OBJECT_BYTES) throw new AppError('IMAGE_TOO_LARGE', `objects are limited to ${MAX_OBJECT_BYTES} bytes`);
    await this.call('PutObject', () => this.client.putObject(this.bucket, key, bytes, bytes.length, { 'Content-Type': contentType }));
  }

  /**
   * A stream of the object's bytes (all of them, or `length` bytes from `offset`), or
   * `undefined` when the object does not exist.
   */
  async openObject(key: string, range?: { offset: number; length: number }): Promise<Readable | undefined> {
    return this.call('GetObject', async () => {
      try {
        return range === undefined
          ? await this.client.getObject(this.bucket, key)
          : await this.client.getPartialObject(this.bucket, key, range.offset, range.length);
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

  /** Removes an object; removing one that is already gone succeeds (reaping is idempotent). */
  async removeObject(key: string): Promise<void> {
    await this.call('DeleteObject', () => this.client.removeObject(this.bucket, key));
  }

  /** Every object under `prefix`, in key order, with its modification time. */
  async listObjects(prefix = ''): Promise<{ key: string; lastModified: Date }[]> {
    return this.call('ListObjects', async () => {
      const objects: { key: string; lastModified: Date }[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<BucketItem>) {
        if (item.name !== undefined) objects.push({ key: item.name, lastModified: item.lastModified });
      }
      return objects;
    });
  }

  /** Every object key under `prefix`, in key order. */
  async listObjectKeys(prefix = ''): Promise<string[]> {
    return (await this.listObjects(prefix)).map((object) => object.key);
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
