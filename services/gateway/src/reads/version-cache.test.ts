import { describe, expect, it } from '@jest/globals';
import { VersionCache, type VersionCacheObserver } from './version-cache.js';

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
    // The load stays in flight until every miss has asked.
    let finishLoad = () => undefined as void;
    const loaded = new Promise<void>((resolve) => (finishLoad = resolve));
    const load = async () => {
      loads += 1;
      await loaded;
      return bytes(10, 7);
    };
    const misses = [cache.getOrLoad('k', load), cache.getOrLoad('k', load), cache.getOrLoad('k', load)];
    finishLoad();
    const results = await Promise.all(misses);
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

  it('admits nothing on its first request, then into free room from its second', () => {
    const cache = new VersionCache(100, 60);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.admits('a', 40)).toBe(false);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.admits('a', 40)).toBe(true);
    expect(cache.admits('a', 61)).toBe(false); // over the item limit, however often asked for
  });

  it('lets a scan repeated over more versions than it holds stream past instead of churning it', () => {
    const cache = new VersionCache(40, 10); // four versions of 10 bytes
    const keys = Array.from({ length: 20 }, (_, n) => `v${n}`);
    let loads = 0;
    const read = (key: string) => {
      if (cache.get(key) === undefined && cache.admits(key, 10)) {
        loads += 1;
        cache.set(key, bytes(10));
      }
    };
    for (let pass = 0; pass < 4; pass += 1) keys.forEach(read);
    // The first four of the second pass filled the free room; nothing pushed them out since.
    expect(loads).toBe(4);
    expect(keys.filter((key) => cache.get(key) !== undefined)).toEqual(['v0', 'v1', 'v2', 'v3']);
  });

  it('puts a version asked for more often in place of the least recently used one', () => {
    const cache = new VersionCache(20, 10);
    for (const key of ['a', 'b']) {
      cache.get(key);
      cache.get(key);
      cache.set(key, bytes(10));
    }
    for (let n = 0; n < 2; n += 1) cache.get('c');
    expect(cache.admits('c', 10)).toBe(false); // as often as 'a' (its victim): no
    cache.get('c');
    expect(cache.admits('c', 10)).toBe(true);
    cache.set('c', bytes(10));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeDefined();
  });

  it('admits a version whose load is in flight, so a crowd joins that load', async () => {
    const cache = new VersionCache(100, 60);
    let finish: (value: Buffer) => void = () => undefined;
    const pending = cache.getOrLoad('k', () => new Promise<Buffer>((resolve) => (finish = resolve)));
    expect(cache.admits('k', 10)).toBe(true);
    finish(bytes(10, 3));
    expect((await pending)?.equals(bytes(10, 3))).toBe(true);
  });

  it('tells its observer each hit and miss, each admission and each eviction', () => {
    const seen: string[] = [];
    const observer: VersionCacheObserver = {
      lookedUp: (result) => seen.push(result),
      admitted: () => seen.push('admitted'),
      evicted: () => seen.push('evicted'),
    };
    const cache = new VersionCache(20, 10, observer);
    cache.get('a');
    cache.set('a', bytes(10));
    cache.set('a', bytes(10)); // already held: neither admitted nor evicted again
    cache.get('a');
    cache.set('b', bytes(8));
    cache.set('c', bytes(5)); // pushes out 'a', the least recently used
    cache.set('big', bytes(11)); // over the item limit: never enters
    expect(seen).toEqual(['miss', 'admitted', 'hit', 'admitted', 'evicted', 'admitted']);
    expect(cache.bytesHeld).toBe(13);
  });
});
