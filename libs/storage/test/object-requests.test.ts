import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { ObjectRequests } from '../src/object-requests.js';
import { ObjectStore } from '../src/object-store.js';

// The signed GetObject and PutObject against the real S3 server, which checks every signature
// and the signed body hash: what the store's own requests promise, proved where it counts.

const settings = testBackendSettings();
const store = new ObjectStore({ ...settings.s3, bucket: uniqueName('requests') });

async function bytesOf(stream: AsyncIterable<Buffer> | undefined): Promise<Buffer | undefined> {
  if (stream === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  await store.ensureBucket();
}, 60_000);

afterAll(async () => {
  for (const key of await store.listObjectKeys()) await store.removeObject(key);
  await store.removeBucket();
}, 60_000);

describe('the store against a real S3', () => {
  it('copies an object server-side, bytes, content type and metadata alike, and says when the source is gone', async () => {
    const bytes = randomBytes(200 * 1024 + 3);
    await store.putObject('images/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD', bytes, 'image/png', { job: '{"kind":"replace"}' });
    expect(await store.copyObject('images/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD', 'quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD')).toBe(true);
    expect((await store.readObject('quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD', bytes.length))?.equals(bytes)).toBe(true);
    expect(await store.objectMetadata('quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD')).toMatchObject({ 'content-type': 'image/png', job: '{"kind":"replace"}' });
    expect(await store.copyObject('images/CCCCCCCCCCCCCCCC/EEEEEEEEEEEEEEEE', 'quarantine/CCCCCCCCCCCCCCCC/EEEEEEEEEEEEEEEE')).toBe(false);
    expect(await store.objectMetadata('quarantine/CCCCCCCCCCCCCCCC/EEEEEEEEEEEEEEEE')).toBeUndefined();
    expect(await store.moveObject('quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD', 'images/CCCCCCCCCCCCCCCC/FFFFFFFFFFFFFFFF')).toBe(true);
    expect(await store.objectMetadata('quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD')).toBeUndefined();
    expect((await store.readObject('images/CCCCCCCCCCCCCCCC/FFFFFFFFFFFFFFFF', bytes.length))?.equals(bytes)).toBe(true);
    expect(await store.moveObject('quarantine/CCCCCCCCCCCCCCCC/DDDDDDDDDDDDDDDD', 'images/CCCCCCCCCCCCCCCC/FFFFFFFFFFFFFFFF')).toBe(false);
  });

  it('takes a SHA-256 the caller computed, and S3 refuses the put when it is not the bytes', async () => {
    const bytes = randomBytes(1000);
    const digest = createHash('sha256').update(bytes).digest('hex');
    expect(await store.putObject('images/FFFFFFFFFFFFFFFF/GGGGGGGGGGGGGGGG', bytes, 'image/png', {}, digest)).toBe(digest);
    await expect(store.putObject('images/FFFFFFFFFFFFFFFF/HHHHHHHHHHHHHHHH', bytes, 'image/png', {}, 'a'.repeat(64))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(await store.objectMetadata('images/FFFFFFFFFFFFFFFF/HHHHHHHHHHHHHHHH')).toBeUndefined();
  });

  it('writes and reads back exact bytes, whole and by range, with the metadata and digest', async () => {
    const bytes = randomBytes(300 * 1024 + 7);
    const digest = await store.putObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', bytes, 'image/jpeg', { job: '{"kind":"create"}' });
    expect(digest).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await store.readObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', bytes.length))?.equals(bytes)).toBe(true);
    const part = await bytesOf(await store.openObject('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB', { offset: 70_000, length: 1234 }));
    expect(part?.equals(bytes.subarray(70_000, 71_234))).toBe(true);
    expect(await store.objectMetadata('images/AAAAAAAAAAAAAAAA/BBBBBBBBBBBBBBBB')).toMatchObject({ job: '{"kind":"create"}' });
  });

  it('signs keys with characters that need escaping the way S3 reads them', async () => {
    const key = "odd/a b+c~!*'()=&;,$@é";
    await store.putObject(key, Buffer.from('odd'), 'image/png');
    expect((await store.readObject(key, 10))?.toString()).toBe('odd');
    expect(await store.listObjectKeys('odd/')).toEqual([key]);
  });

  it('answers undefined for an object that does not exist', async () => {
    await expect(store.openObject('images/AAAAAAAAAAAAAAAA/none')).resolves.toBeUndefined();
  });

  it('is refused by S3, and leaves nothing, when the bytes sent are not the bytes signed', async () => {
    const url = new URL(settings.s3.endpoint);
    const requests = new ObjectRequests({ url, ...settings.s3 }, http, new http.Agent());
    const signedFor = createHash('sha256').update('other bytes').digest('hex');
    await expect(requests.put(store.bucket, 'images/AAAAAAAAAAAAAAAA/tampered', Buffer.from('these bytes'), {}, signedFor)).rejects.toMatchObject({
      name: 'S3ResponseError',
      code: 'XAmzContentSHA256Mismatch',
    });
    await expect(store.openObject('images/AAAAAAAAAAAAAAAA/tampered')).resolves.toBeUndefined();
  });
});
