import { describe, expect, it } from '@jest/globals';
import { FrequencySketch } from './frequency-sketch.js';

describe('FrequencySketch', () => {
  it('counts requests per key, never below the true count', () => {
    const sketch = new FrequencySketch(1024);
    const keys = Array.from({ length: 500 }, (_, n) => `images/key${n}/version${n}`);
    keys.forEach((key, n) => {
      for (let count = 0; count < n % 5; count += 1) sketch.increment(key);
    });
    const estimates = keys.map((key) => sketch.estimate(key));
    keys.forEach((_, n) => expect(estimates[n]).toBeGreaterThanOrEqual(n % 5));
    // 500 keys in 1 024 counters per row: all but a few estimates are exact (488 here).
    expect(estimates.filter((estimate, n) => estimate === n % 5).length).toBeGreaterThanOrEqual(480);
    expect(sketch.estimate('never asked for')).toBe(0);
  });

  it('caps counts at 15 and halves them all after ten requests per counter', () => {
    const sketch = new FrequencySketch(16);
    for (let n = 0; n < 40; n += 1) sketch.increment('hot');
    expect(sketch.estimate('hot')).toBe(15);
    for (let n = 0; n < 120; n += 1) sketch.increment(`other${n % 8}`); // the 160th request ages
    expect(sketch.estimate('hot')).toBe(7);
  });
});
