interface KeyState<T> {
  readonly current: Promise<T>;
  /** The read after `current`, shared by every caller that arrived while `current` ran. */
  next: Promise<T> | undefined;
}

const settled = (promise: Promise<unknown>): Promise<void> =>
  promise.then(
    () => undefined,
    () => undefined,
  );

/**
 * Coalesces concurrent reads of one key without ever answering a caller from a read that
 * began before it asked. A caller that arrives while a read of its key is in flight waits for
 * the next read, which starts as soon as the current one ends and serves every caller that
 * queued meanwhile. A hot image then costs one database round trip at a time, however many
 * clients read it, and a PATCH or DELETE acknowledged before a GET arrived is always seen by
 * that GET — on every replica, with no invalidation.
 */
export class FreshLookups<T> {
  private readonly inFlight = new Map<string, KeyState<T>>();

  constructor(private readonly read: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    const state = this.inFlight.get(key);
    if (state === undefined) return this.begin(key);
    state.next ??= settled(state.current).then(() => this.begin(key));
    return state.next;
  }

  private begin(key: string): Promise<T> {
    const state: KeyState<T> = { current: this.read(key), next: undefined };
    this.inFlight.set(key, state);
    // Runs before the queued `next` begins (it was registered first): with no one queued the
    // key is forgotten; otherwise `next` replaces this state when it begins.
    void settled(state.current).then(() => {
      if (this.inFlight.get(key) === state && state.next === undefined) this.inFlight.delete(key);
    });
    return state.current;
  }

  /** Keys with a read in flight (for tests and metrics). */
  get size(): number {
    return this.inFlight.size;
  }
}
