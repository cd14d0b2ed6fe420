/** How many versions missed once are remembered, waiting for a second request. */
const DEFAULT_RECENT_MISSES = 8192;

/**
 * The bytes of recently served image versions, least recently used out first, bounded in
 * bytes. Safe without invalidation: a version object never changes (a replacement is a new
 * version with a new key), and every GET still looks the record up, so a PATCH or DELETE is
 * visible at once on every replica.
 *
 * A version is cached on its second request among the last few thousand misses, not its
 * first: one-off reads (a crawler, a scan of old images) stream past the cache instead of
 * pushing out what is read often. That also spares the process full garbage collections:
 * each cached buffer lives in the old generation, and caching every miss of a cold scan cost
 * the gateway a full collection every ~20 reads (5.8 ms of CPU per read; streamed, 3.0–3.4).
 */
export class VersionCache {
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();
  /** Keys missed once lately, oldest first. */
  private readonly recentMisses = new Set<string>();
  private size = 0;

  constructor(
    readonly capacityBytes: number,
    /** Larger versions are streamed from S3, never cached. */
    readonly maxItemBytes: number,
    private readonly maxRecentMisses = DEFAULT_RECENT_MISSES,
  ) {}

  get bytesHeld(): number {
    return this.size;
  }

  /** Whether a version of `bytes` bytes would be kept. */
  accepts(bytes: number): boolean {
    return bytes <= this.maxItemBytes && bytes <= this.capacityBytes;
  }

  get(key: string): Buffer | undefined {
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
    }
    this.entries.set(key, value);
    this.size += value.length;
  }

  /**
   * After a miss on `key`: whether to load it into the cache (it was missed recently too, or
   * is being loaded) rather than stream it. Remembers this miss either way.
   */
  admits(key: string): boolean {
    if (this.loading.has(key) || this.recentMisses.delete(key)) return true;
    this.recentMisses.add(key);
    if (this.recentMisses.size > this.maxRecentMisses) {
      for (const oldest of this.recentMisses) {
        this.recentMisses.delete(oldest);
        break;
      }
    }
    return false;
  }

  /**
   * The cached bytes, or `load()`'s, cached on the way; concurrent misses for one key share
   * one load, so a sudden crowd on a new image makes few S3 requests, not hundreds.
   */
  async getOrLoad(key: string, load: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
    const cached = this.get(key);
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
