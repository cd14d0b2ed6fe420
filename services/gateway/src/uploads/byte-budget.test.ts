import { describe, expect, it } from '@jest/globals';
import { ByteBudget } from './byte-budget.js';

function budgetOf(capacity: number, minBytesPerSecond = 100) {
  const time = { now: 0 };
  return { budget: new ByteBudget(capacity, { minBytesPerSecond, clock: () => time.now }), time };
}

describe('ByteBudget', () => {
  it('lets reservations grow until the capacity and no further', () => {
    const { budget } = budgetOf(100);
    const a = budget.reserve();
    const b = budget.reserve();
    expect(a.ensure(60)).toBe(true);
    expect(b.ensure(40)).toBe(true);
    expect(b.ensure(41)).toBe(false);
    expect(b.bytes).toBe(40);
    expect(budget.bytesInUse).toBe(100);
    a.release();
    expect(budget.bytesInUse).toBe(40);
    expect(b.ensure(100)).toBe(true);
    expect(budget.bytesInUse).toBe(100);
  });

  it('never double-counts: shrinking asks are no-ops and release is idempotent', () => {
    const { budget } = budgetOf(10);
    const r = budget.reserve();
    expect(r.ensure(8)).toBe(true);
    expect(r.ensure(3)).toBe(true);
    expect(budget.bytesInUse).toBe(8);
    r.release();
    r.release();
    expect(budget.bytesInUse).toBe(0);
    expect(() => r.ensure(1)).toThrow();
  });

  it('holds a claim against others while its bytes keep coming at the minimum rate', () => {
    const { budget, time } = budgetOf(1000, 100);
    const claimant = budget.reserve();
    expect(claimant.ensure(50)).toBe(true);
    expect(claimant.claim(800)).toBe(true);
    expect(budget.bytesInUse).toBe(800);
    const other = budget.reserve();
    expect(other.ensure(300)).toBe(false);
    time.now = 2000;
    expect(claimant.ensure(50 + 250)).toBe(true);
    expect(other.ensure(300)).toBe(false);
    expect(claimant.bytes).toBe(800);
  });

  it('takes back the unsent part of a claim whose bytes come slower than the minimum rate, once others need it', () => {
    const { budget, time } = budgetOf(1000, 100);
    const slow = budget.reserve();
    expect(slow.ensure(50)).toBe(true);
    expect(slow.claim(800)).toBe(true);
    const other = budget.reserve();
    // Within its first second a claim is not judged.
    time.now = 500;
    expect(other.ensure(300)).toBe(false);
    time.now = 2000;
    expect(slow.ensure(50 + 150)).toBe(true);
    expect(other.ensure(300)).toBe(true);
    expect(slow.bytes).toBe(200);
    expect(budget.bytesInUse).toBe(500);
    // Its bytes are still charged as they arrive.
    expect(slow.ensure(800)).toBe(false);
    expect(slow.ensure(700)).toBe(true);
    slow.release();
    other.release();
    expect(budget.bytesInUse).toBe(0);
  });
});
