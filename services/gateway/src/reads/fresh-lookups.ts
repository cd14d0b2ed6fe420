interface Waiter<T> {
  readonly resolve: (value: T | undefined) => void;
  readonly reject: (error: unknown) => void;
}

export interface FreshLookupsOptions {
  /** Batches read at once; more wait and grow meanwhile. */
  readonly maxInFlight?: number;
  /** Keys in one batch. */
  readonly maxBatch?: number;
}

// Two batches at a time: one is read while the next gathers, so a lone request waits for no
// one, and under load each database round trip serves every key that arrived during the
// previous one, far cheaper per key than a lookup each (bench/decisions.md#batched-lookups).
const DEFAULT_MAX_IN_FLIGHT = 2;
const DEFAULT_MAX_BATCH = 128;

/**
 * Looks records up by key in batches, without ever answering a caller from a read that began
 * before it asked: a key waits for the next batch sent after its request, never joins one
 * already in flight. Concurrent requests for one key share that next read, and requests for
 * different keys share its round trip (`readMany` gets each key once). So a PATCH or DELETE
 * acknowledged before a GET arrived is always seen by that GET, on every replica, with no
 * invalidation, while a crowd of readers costs a few database round trips at a time.
 */
export class FreshLookups<T> {
  /** Keys waiting for the next batch, with everyone waiting for each. */
  private readonly pending = new Map<string, Waiter<T>[]>();
  /** Keys in the batches being read. */
  private readonly reading = new Set<string>();
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    private readonly readMany: (keys: readonly string[]) => Promise<ReadonlyMap<string, T>>,
    options: FreshLookupsOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  /** The record under `key` as the database holds it at some moment after this call. */
  get(key: string): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters === undefined) this.pending.set(key, [{ resolve, reject }]);
      else waiters.push({ resolve, reject });
      // Requests parsed in the same turn of the event loop go out together.
      if (!this.scheduled && this.inFlight < this.maxInFlight) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.sendBatches();
        });
      }
    });
  }

  /** Keys waiting for a batch (for tests and metrics). */
  get waiting(): number {
    return this.pending.size;
  }

  private sendBatches(): void {
    while (this.inFlight < this.maxInFlight) {
      const batch = this.takeBatch();
      if (batch.size === 0) return;
      this.inFlight += 1;
      for (const key of batch.keys()) this.reading.add(key);
      this.readMany([...batch.keys()])
        .then(
          (found) => {
            for (const [key, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(key));
          },
          (error: unknown) => {
            for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          for (const key of batch.keys()) this.reading.delete(key);
          this.sendBatches();
        });
    }
  }

  /**
   * Up to maxBatch waiting keys, leaving those still being read: a hot key has one read in
   * flight at a time, whose successor serves everyone who asked meanwhile.
   */
  private takeBatch(): Map<string, Waiter<T>[]> {
    const batch = new Map<string, Waiter<T>[]>();
    for (const [key, waiters] of this.pending) {
      if (this.reading.has(key)) continue;
      batch.set(key, waiters);
      this.pending.delete(key);
      if (batch.size === this.maxBatch) break;
    }
    return batch;
  }
}
