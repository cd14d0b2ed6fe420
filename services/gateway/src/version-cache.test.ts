import { describe, expect, it } from '@jest/globals';
import { VersionCache } from './version-cache.js';

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('VersionCache', () => {
  it('evicts the least recently used versions to stay within its byte capacity', () => {
    const cache = new VersionCache(100, 60);
    cache.set('a', bytes(40));
    cache.set('b', bytes(40));
    expect(cache.get('a')?.length).toBe(40); // a is now the most recently used
    cache.set('c', bytes(40));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.length).toBe(40);
    expect(cache.get('c')?.length).toBe(40);
    expect(cache.bytesHeld).toBe(80);
  });

  it('never keeps a version larger than its item limit', () => {
    const cache = new VersionCache(100, 60);
    cache.set('big', bytes(61));
    expect(cache.get('big')).toBeUndefined();
    expect(cache.bytesHeld).toBe(0);
    expect(new VersionCache(0, 60).accepts(1)).toBe(false);
  });

  it('shares one load between concurrent misses and caches its result', async () => {
    const cache = new VersionCache(100, 60);
    let loads = 0;
    const load = async () => {
      loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return bytes(10, 7);
    };
    const results = await Promise.all([cache.getOrLoad('k', load), cache.getOrLoad('k', load), cache.getOrLoad('k', load)]);
    expect(loads).toBe(1);
    for (const result of results) expect(result?.equals(bytes(10, 7))).toBe(true);
    expect(await cache.getOrLoad('k', load)).toBeDefined();
    expect(loads).toBe(1);
  });

  it('does not cache a miss', async () => {
    const cache = new VersionCache(100, 60);
    expect(await cache.getOrLoad('gone', async () => undefined)).toBeUndefined();
    expect(await cache.getOrLoad('gone', async () => bytes(5))).toBeDefined();
  });

  it('admits a version on its second miss among the recent ones, so one-off reads pass it by', async () => {
    const cache = new VersionCache(100, 60, 2);
    expect(cache.admits('a')).toBe(false);
    expect(cache.admits('a')).toBe(true);
    // Only the last two first misses are remembered: 'b' is forgotten by the time it comes back.
    expect(cache.admits('b')).toBe(false);
    expect(cache.admits('c')).toBe(false);
    expect(cache.admits('d')).toBe(false);
    expect(cache.admits('b')).toBe(false);
    expect(cache.admits('d')).toBe(true);
  });

  it('admits a version whose load is in flight, so a crowd joins that load', async () => {
    const cache = new VersionCache(100, 60);
    let finish: (value: Buffer) => void = () => undefined;
    const pending = cache.getOrLoad('k', () => new Promise<Buffer>((resolve) => (finish = resolve)));
    expect(cache.admits('k')).toBe(true);
    finish(bytes(10, 3));
    expect((await pending)?.equals(bytes(10, 3))).toBe(true);
  });
});
