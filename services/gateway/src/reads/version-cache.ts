import { FrequencySketch } from './frequency-sketch.js';

/** About how many distinct versions' request counts are told apart for admission. */
const DEFAULT_TRACKED_KEYS = 8192;

/** Told what the cache does, for its metrics (the cache itself knows nothing of them). */
export interface VersionCacheObserver {
  /** A request for a version small enough to cache, and whether the cache held it. */
  lookedUp(result: 'hit' | 'miss'): void;
  /** A version entered the cache. */
  admitted(): void;
  /** A version was pushed out to make room for another. */
  evicted(): void;
}

/**
 * The bytes of recently served image versions, least recently used out first, bounded in
 * bytes. Safe without invalidation: a version object never changes (a replacement is a new
 * version with a new key), and every GET still looks the record up, so a PATCH or DELETE is
 * visible at once on every replica.
 *
 * What enters is decided by how often each version was asked for lately (TinyLFU): never on
 * its first request, so one-off reads (a crawler, a scan of old images) stream past; into
 * free room from its second; into a full cache only in place of a least recently used version
 * asked for less often. A scan repeated over more images than the cache holds therefore streams
 * instead of pushing out, one by one, everything it holds: buffers evicted before their next
 * use cost old-generation collections (bench/decisions.md#cache-admission).
 */
export class VersionCache {
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();
  private readonly requests: FrequencySketch;
  private size = 0;

  constructor(
    readonly capacityBytes: number,
    /** Larger versions are streamed from S3, never cached. */
    readonly maxItemBytes: number,
    private readonly observer?: VersionCacheObserver,
    trackedKeys = DEFAULT_TRACKED_KEYS,
  ) {
    this.requests = new FrequencySketch(trackedKeys);
  }

  get bytesHeld(): number {
    return this.size;
  }

  /** Whether a version of `bytes` bytes would be kept. */
  accepts(bytes: number): boolean {
    return bytes <= this.maxItemBytes && bytes <= this.capacityBytes;
  }

  /** A request for `key`: its cached bytes, if any; counted for admission either way. */
  get(key: string): Buffer | undefined {
    this.requests.increment(key);
    const value = this.touch(key);
    this.observer?.lookedUp(value === undefined ? 'miss' : 'hit');
    return value;
  }

  private touch(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Buffer): void {
    if (!this.accepts(value.length) || this.entries.has(key)) return;
    for (const [oldest, buffer] of this.entries) {
      if (this.size + value.length <= this.capacityBytes) break;
      this.entries.delete(oldest);
      this.size -= buffer.length;
      this.observer?.evicted();
    }
    this.entries.set(key, value);
    this.size += value.length;
    this.observer?.admitted();
  }

  /**
   * After `get(key)` missed: whether to load the version (`bytes` long) into the cache rather
   * than stream it. Yes when its load is in flight (a crowd joins it); no on its first request;
   * then yes if it fits in free room, or if it was asked for more often than the least
   * recently used version, the first it would push out.
   */
  admits(key: string, bytes: number): boolean {
    if (this.loading.has(key)) return true;
    const frequency = this.requests.estimate(key);
    if (frequency < 2 || !this.accepts(bytes)) return false;
    if (this.size + bytes <= this.capacityBytes) return true;
    const victim = this.entries.keys().next();
    return victim.done === true || frequency > this.requests.estimate(victim.value);
  }

  /**
   * The cached bytes, or `load()`'s, cached on the way; concurrent misses for one key share
   * one load, so a sudden crowd on a new image makes few S3 requests, not hundreds.
   */
  async getOrLoad(key: string, load: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
    const cached = this.touch(key);
    if (cached !== undefined) return cached;
    const pending = this.loading.get(key);
    if (pending !== undefined) return pending;
    const loading = load()
      .then((value) => {
        if (value !== undefined) this.set(key, value);
        return value;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, loading);
    return loading;
  }
}
