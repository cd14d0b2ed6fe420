export interface ClaimPolicy {
  /** A claim whose upload has sent less than this per second since the claim, after its first second, yields to other uploads. */
  readonly minBytesPerSecond: number;
  /** Milliseconds, monotonic. */
  readonly clock: () => number;
}

/** A claim protects its upload this long before its rate is judged. */
const CLAIM_GRACE_MS = 1000;

/**
 * A per-process budget of upload bytes held in memory, so that uploads that do not fit are
 * refused with 503 instead of growing the heap until the pod is killed. Each upload takes from
 * it as its bytes arrive. An upload that has proven itself by sending may also claim its whole
 * announced length ahead of arrival, so a burst of large uploads is refused early instead of
 * all growing together; a claim lasts only while its bytes keep coming at the policy's
 * minimum rate, so sockets that announce much and send little cannot hold the budget.
 */
export class ByteBudget {
  private used = 0;
  private readonly claimants = new Set<Reservation>();

  constructor(
    readonly capacity: number,
    private readonly policy: ClaimPolicy,
  ) {}

  get bytesInUse(): number {
    return this.used;
  }

  /** A reservation that starts empty and can grow. */
  reserve(): Reservation {
    return new Reservation(this);
  }

  /** @internal */
  now(): number {
    return this.policy.clock();
  }

  /** @internal */
  tryTake(bytes: number, taker: Reservation): boolean {
    if (this.used + bytes > this.capacity) this.reclaimSlowClaims(taker);
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.used -= bytes;
  }

  /** @internal */
  track(claimant: Reservation, claiming: boolean): void {
    if (claiming) this.claimants.add(claimant);
    else this.claimants.delete(claimant);
  }

  private reclaimSlowClaims(taker: Reservation): void {
    const now = this.now();
    for (const claimant of this.claimants) {
      if (claimant !== taker && claimant.isSlowerThan(this.policy.minBytesPerSecond, now)) claimant.forfeitClaim();
    }
  }
}

export class Reservation {
  private held = 0;
  private arrived = 0;
  private claimed: { readonly at: number; readonly arrivedThen: number } | undefined;
  private released = false;

  constructor(private readonly budget: ByteBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Covers `total` bytes that have arrived; false (and unchanged) when the budget is spent. */
  ensure(total: number): boolean {
    if (!this.grow(total)) return false;
    this.arrived = Math.max(this.arrived, total);
    return true;
  }

  /** Holds `total` bytes ahead of their arrival while they keep coming; false (and unchanged) when they do not fit. */
  claim(total: number): boolean {
    if (!this.grow(total)) return false;
    this.claimed = { at: this.budget.now(), arrivedThen: this.arrived };
    this.budget.track(this, true);
    return true;
  }

  /** @internal */
  isSlowerThan(bytesPerSecond: number, now: number): boolean {
    if (this.claimed === undefined) return false;
    const elapsedMs = now - this.claimed.at;
    return elapsedMs >= CLAIM_GRACE_MS && this.arrived - this.claimed.arrivedThen < (bytesPerSecond * elapsedMs) / 1000;
  }

  /** @internal Gives back what was held beyond the bytes that arrived. */
  forfeitClaim(): void {
    this.budget.give(this.held - this.arrived);
    this.held = this.arrived;
    this.claimed = undefined;
    this.budget.track(this, false);
  }

  /** Gives everything back; safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.budget.track(this, false);
    this.held = 0;
    this.claimed = undefined;
  }

  private grow(total: number): boolean {
    if (this.released) throw new Error('reservation already released');
    if (total <= this.held) return true;
    if (!this.budget.tryTake(total - this.held, this)) return false;
    this.held = total;
    return true;
  }
}
