import { describe, expect, it } from 'vitest';
import { percentile, recallAt, summarize } from './stats.js';

describe('latency statistics', () => {
  it('interpolates percentiles between closest ranks', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 50)).toBeCloseTo(5.5);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 100)).toBe(10);
    expect(percentile(xs, 95)).toBeCloseTo(9.55);
    expect(percentile([4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarises unsorted latencies, with one client’s throughput', () => {
    const s = summarize([30, 10, 20, 40]);
    expect(s.n).toBe(4);
    expect(s.p50).toBe(25);
    expect(s.mean).toBe(25);
    expect(s.throughput).toBeCloseTo(40); // 4 ops in 100 ms
    expect(s.p99).toBeCloseTo(39.7);
  });

  it('computes recall@k against the exact answer', () => {
    expect(recallAt(3, ['a', 'b', 'c'], ['c', 'b', 'a'])).toBe(1);
    expect(recallAt(4, ['a', 'x', 'y', 'b'], ['a', 'b', 'c', 'd'])).toBe(0.5);
    expect(recallAt(2, ['a', 'b', 'c'], ['c', 'd'])).toBe(0);
    expect(recallAt(10, [], [])).toBe(1);
  });
});
