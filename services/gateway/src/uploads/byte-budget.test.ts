import { describe, expect, it } from '@jest/globals';
import { ByteBudget } from './byte-budget.js';

describe('ByteBudget', () => {
  it('lets reservations grow until the capacity and no further', () => {
    const budget = new ByteBudget(100);
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
    const budget = new ByteBudget(10);
    const r = budget.reserve();
    expect(r.ensure(8)).toBe(true);
    expect(r.ensure(3)).toBe(true);
    expect(budget.bytesInUse).toBe(8);
    r.release();
    r.release();
    expect(budget.bytesInUse).toBe(0);
    expect(() => r.ensure(1)).toThrow();
  });
});
