import { describe, expect, it } from '@jest/globals';
import { parseRange } from './range.js';

describe('parseRange', () => {
  const size = 1000;
  it('reads the three single-range forms', () => {
    expect(parseRange('bytes=0-99', size)).toEqual({ kind: 'range', range: { start: 0, end: 99 } });
    expect(parseRange('bytes=900-', size)).toEqual({ kind: 'range', range: { start: 900, end: 999 } });
    expect(parseRange('bytes=-10', size)).toEqual({ kind: 'range', range: { start: 990, end: 999 } });
  });

  it('clamps ends beyond the body', () => {
    expect(parseRange('bytes=990-5000', size)).toEqual({ kind: 'range', range: { start: 990, end: 999 } });
    expect(parseRange('bytes=-5000', size)).toEqual({ kind: 'range', range: { start: 0, end: 999 } });
  });

  it('reports ranges starting past the end as unsatisfiable', () => {
    expect(parseRange('bytes=1000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=5000-6000', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores what it does not serve: no header, other units, several ranges, nonsense', () => {
    for (const header of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'bytes=99999999999999999999-']) {
      expect(parseRange(header, size)).toEqual({ kind: 'none' });
    }
  });
});
