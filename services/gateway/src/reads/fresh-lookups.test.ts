import { describe, expect, it } from '@jest/globals';
import { FreshLookups } from './fresh-lookups.js';

/** A database whose batch reads the test releases by hand, each seeing the values held when it was sent. */
function manualStore() {
  const values = new Map<string, string>();
  const reads: { keys: readonly string[]; finish: () => void; fail: (error: Error) => void }[] = [];
  const readMany = (keys: readonly string[]) =>
    new Promise<ReadonlyMap<string, string>>((resolve, reject) => {
      const seen = new Map([...values].filter(([key]) => keys.includes(key))); // what the database holds when the read is sent
      reads.push({ keys, finish: () => resolve(seen), fail: reject });
    });
  return { reads, readMany, write: (key: string, value: string) => values.set(key, value) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FreshLookups', () => {
  it('sends the keys asked for in one turn as one batch, each key once', async () => {
    const store = manualStore();
    store.write('a', 'a1');
    store.write('b', 'b1');
    const lookups = new FreshLookups(store.readMany);
    const answers = Promise.all(['a', 'b', 'a', 'missing'].map((key) => lookups.get(key)));
    await tick();
    expect(store.reads.map((read) => read.keys)).toEqual([['a', 'b', 'missing']]);
    store.reads[0]?.finish();
    expect(await answers).toEqual(['a1', 'b1', 'a1', undefined]);
    expect(lookups.waiting).toBe(0);
  });

  it('gathers the keys that arrive while the batches in flight run into the next one', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.readMany, { maxInFlight: 1 });
    const first = lookups.get('a');
    await tick();
    const later = ['b', 'c', 'd'].map((key) => lookups.get(key));
    await tick();
    expect(store.reads).toHaveLength(1); // the one slot is taken: b, c and d wait
    expect(lookups.waiting).toBe(3);
    store.reads[0]?.finish();
    await first;
    await tick();
    expect(store.reads.map((read) => read.keys)).toEqual([['a'], ['b', 'c', 'd']]);
    store.reads[1]?.finish();
    expect(await Promise.all(later)).toEqual([undefined, undefined, undefined]);
  });

  it('never answers a caller from a read sent before it asked: a write in between is seen', async () => {
    const store = manualStore();
    store.write('k', 'v1');
    const lookups = new FreshLookups(store.readMany);
    const before = lookups.get('k');
    await tick(); // the read is sent while the value is v1
    store.write('k', 'v2'); // a PATCH is acknowledged…
    const after = lookups.get('k'); // …then this GET arrives
    await tick();
    expect(store.reads).toHaveLength(1); // it did not join the read in flight…
    store.reads[0]?.finish();
    expect(await before).toBe('v1');
    await tick();
    expect(store.reads).toHaveLength(2); // …but waits for the next one
    store.reads[1]?.finish();
    expect(await after).toBe('v2');
  });

  it('reads a hot key once at a time, while other keys go on in the free batch', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.readMany, { maxInFlight: 2 });
    const first = lookups.get('hot');
    await tick();
    const crowd = Array.from({ length: 5 }, () => lookups.get('hot'));
    const other = lookups.get('other');
    await tick();
    // The second slot is free, but 'hot' is being read: only 'other' goes.
    expect(store.reads.map((read) => read.keys)).toEqual([['hot'], ['other']]);
    store.reads[0]?.finish();
    await first;
    await tick();
    expect(store.reads.map((read) => read.keys)).toEqual([['hot'], ['other'], ['hot']]);
    store.reads[1]?.finish();
    store.reads[2]?.finish();
    expect(await Promise.all(crowd)).toEqual(Array(5).fill(undefined));
    expect(await other).toBeUndefined();
    expect(lookups.waiting).toBe(0);
  });

  it('splits a crowd of keys into batches of at most maxBatch', async () => {
    const store = manualStore();
    const lookups = new FreshLookups(store.readMany, { maxInFlight: 2, maxBatch: 3 });
    const answers = Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((key) => lookups.get(key)));
    await tick();
    expect(store.reads.map((read) => read.keys)).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e', 'f'],
    ]);
    store.reads[0]?.finish();
    await tick();
    expect(store.reads[2]?.keys).toEqual(['g']);
    store.reads[1]?.finish();
    store.reads[2]?.finish();
    expect(await answers).toHaveLength(7);
  });

  it('fails the callers of a failed batch only; the next batch is read as usual', async () => {
    const store = manualStore();
    store.write('c', 'c1');
    const lookups = new FreshLookups(store.readMany, { maxInFlight: 1 });
    const failed = [lookups.get('a'), lookups.get('b')];
    await tick();
    const next = lookups.get('c');
    store.reads[0]?.fail(new Error('database away'));
    await expect(failed[0]).rejects.toThrow('database away');
    await expect(failed[1]).rejects.toThrow('database away');
    await tick();
    store.reads[1]?.finish();
    expect(await next).toBe('c1');
    expect(lookups.waiting).toBe(0);
  });
});
