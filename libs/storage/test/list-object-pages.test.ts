import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testBackendSettings, uniqueName } from '@imagehost/testing';
import { ObjectStore } from '../src/object-store.js';

// The paged listing against a real S3 server, with more objects than one S3 reply (1000) so
// that minio's continuation between replies is crossed too.

const settings = testBackendSettings();
const startedAt = Date.now();
const store = new ObjectStore({ ...settings.s3, bucket: uniqueName('pages') });
const COUNT = 1234;
const keys = Array.from({ length: COUNT }, (_, n) => `images/${String(n).padStart(5, '0')}`);

async function putAll(names: readonly string[], parallel = 16): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let at = next++; at < names.length; at = next++) await store.putObject(names[at] ?? '', Buffer.from('x'), 'application/octet-stream');
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}

beforeAll(async () => {
  await store.ensureBucket();
  // Shuffled, and with a neighbour outside the prefix on either side.
  await putAll([...keys].sort(() => Math.random() - 0.5).concat(['imagea', 'image/']));
}, 120_000);

afterAll(async () => {
  for (const key of await store.listObjectKeys()) await store.removeObject(key);
  await store.removeBucket();
}, 120_000);

describe('listObjectPages', () => {
  it('yields every object under the prefix once, in key order, in pages of the size asked', async () => {
    const pages: string[][] = [];
    const times: number[] = [];
    for await (const page of store.listObjectPages('images/', 100)) {
      pages.push(page.map((object) => object.key));
      times.push(...page.map((object) => object.lastModified.getTime()));
    }
    expect(pages.map((page) => page.length)).toEqual([...Array<number>(12).fill(100), 34]);
    expect(pages.flat()).toEqual(keys);
    // S3 keeps whole seconds.
    expect(times.every((time) => time >= startedAt - 2000 && time <= Date.now() + 2000)).toBe(true);
  });

  it('yields nothing for an empty prefix, and refuses a page size that is not a positive integer', async () => {
    const pages = [];
    for await (const page of store.listObjectPages('nothing-here/', 10)) pages.push(page);
    expect(pages).toEqual([]);
    await expect(store.listObjectPages('images/', 0).next()).rejects.toThrow(RangeError);
  });

  // Last: it empties the prefix. The sweep deletes what it has listed as it goes.
  it('misses and repeats nothing while the objects already listed are deleted', async () => {
    const seen: string[] = [];
    for await (const page of store.listObjectPages('images/', 100)) {
      for (const object of page) seen.push(object.key);
      await Promise.all(page.map((object) => store.removeObject(object.key)));
    }
    expect(seen).toEqual(keys);
    expect(await store.listObjectKeys('images/')).toEqual([]);
  });
});
