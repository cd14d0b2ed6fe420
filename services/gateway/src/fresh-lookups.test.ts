import { describe, expect, it } from '@jest/globals';
import { FreshLookups } from './fresh-lookups.js';

/** A read whose answers the test releases by hand, recording when each read began. */
function manualStore() {
  let value = 'v1';
  const reads: { key: string; sawValue: () => string; finish: () => void; fail: (error: Error) => void }[] = [];
  const read = (key: string) =>
    new Promise<string>((resolve, reject) => {
      const seen = value; // what the database holds when the read is sent
      reads.push({ key, sawValue: () => seen, finish: () => resolve(`${key}:${seen}`), fail: reject });
    });
  return { reads, read, write: (next: string) => (value = next) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FreshLookups', () => {
  it('serves a crowd on one key with one read in flight and one queued', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.read);
    const first = lookups.get('k');
    const crowd = Array.from({ length: 10 }, () => lookups.get('k'));
    expect(store.reads).toHaveLength(1);
    store.reads[0]?.finish();
    expect(await first).toBe('k:v1');
    await tick();
    expect(store.reads).toHaveLength(2);
    store.reads[1]?.finish();
    expect(await Promise.all(crowd)).toEqual(Array(10).fill('k:v1'));
    expect(lookups.size).toBe(0);
  });

  it('never answers a caller from a read sent before it asked: a write in between is seen', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.read);
    const before = lookups.get('k'); // read sent while the value is v1
    store.write('v2'); // a PATCH is acknowledged…
    const after = lookups.get('k'); // …then this GET arrives
    store.reads[0]?.finish();
    await tick();
    store.reads[1]?.finish();
    expect(await before).toBe('k:v1');
    expect(await after).toBe('k:v2');
  });

  it('keeps keys apart, and a failed read fails its callers only', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.read);
    const a = lookups.get('a');
    const b = lookups.get('b');
    const aAgain = lookups.get('a');
    expect(store.reads.map((r) => r.key)).toEqual(['a', 'b']);
    store.reads[0]?.fail(new Error('database away'));
    store.reads[1]?.finish();
    await expect(a).rejects.toThrow('database away');
    expect(await b).toBe('b:v1');
    await tick();
    store.reads[2]?.finish();
    expect(await aAgain).toBe('a:v1');
    expect(lookups.size).toBe(0);
  });
});
