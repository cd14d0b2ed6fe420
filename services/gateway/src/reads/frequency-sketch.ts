const ROWS = 4;
const MAX_COUNT = 15;
const SEEDS = [0x00000000, 0x9e3779b9, 0x85ebca6b, 0xc2b2ae35] as const;

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * MurmurHash3's finaliser: every output bit depends on every input bit. FNV's low bits alone
 * (a row's slot) are poorly mixed and collide together across rows.
 */
function mix(hash: number): number {
  let mixed = hash ^ (hash >>> 16);
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  return (mixed ^ (mixed >>> 16)) >>> 0;
}

/**
 * How often keys were asked for lately, in fixed memory: a count-min sketch (the smallest of
 * four hashed counters, so an estimate is never below the true count since the last aging,
 * and rarely above it) whose counters all halve once `10 × width` requests were counted, so
 * what was popular an hour ago stops outweighing what is popular now (TinyLFU's aging).
 */
export class FrequencySketch {
  private readonly counters: Uint8Array;
  private readonly mask: number;
  private readonly agingPeriod: number;
  private counted = 0;

  /** `width` counters per row, rounded up to a power of two; about the number of keys to tell apart. */
  constructor(width: number) {
    let size = 1;
    while (size < width) size *= 2;
    this.mask = size - 1;
    this.counters = new Uint8Array(ROWS * size);
    this.agingPeriod = 10 * size;
  }

  /** Counts one request for `key`. */
  increment(key: string): void {
    const hash = fnv1a(key);
    for (let row = 0; row < ROWS; row += 1) {
      const slot = this.slot(hash, row);
      if ((this.counters[slot] ?? 0) < MAX_COUNT) this.counters[slot] = (this.counters[slot] ?? 0) + 1;
    }
    this.counted += 1;
    if (this.counted >= this.agingPeriod) this.age();
  }

  /** How many requests for `key` were counted (at most 15, halved at each aging). */
  estimate(key: string): number {
    const hash = fnv1a(key);
    let smallest = MAX_COUNT;
    for (let row = 0; row < ROWS; row += 1) smallest = Math.min(smallest, this.counters[this.slot(hash, row)] ?? 0);
    return smallest;
  }

  private slot(hash: number, row: number): number {
    return row * (this.mask + 1) + (mix(hash ^ (SEEDS[row] ?? 0)) & this.mask);
  }

  private age(): void {
    for (let index = 0; index < this.counters.length; index += 1) this.counters[index] = (this.counters[index] ?? 0) >> 1;
    this.counted = Math.floor(this.counted / 2);
  }
}
