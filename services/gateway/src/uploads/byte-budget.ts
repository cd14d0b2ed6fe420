/**
 * A per-process budget of upload bytes held in memory. Each upload takes from it as its
 * bytes arrive (or all at once when `Content-Length` announces them) and gives back when
 * its object is stored; an upload that does not fit is refused with 503 instead of
 * growing the heap until the pod is killed.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  get bytesInUse(): number {
    return this.used;
  }

  /** A reservation that starts empty and can grow. */
  reserve(): Reservation {
    return new Reservation(this);
  }

  /** @internal */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.used -= bytes;
  }
}

export class Reservation {
  private held = 0;
  private released = false;

  constructor(private readonly budget: ByteBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Grows the reservation to cover `total` bytes; false (and unchanged) when the budget is spent. */
  ensure(total: number): boolean {
    if (this.released) throw new Error('reservation already released');
    if (total <= this.held) return true;
    if (!this.budget.tryTake(total - this.held)) return false;
    this.held = total;
    return true;
  }

  /** Gives everything back; safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}
