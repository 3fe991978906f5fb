import { describe, expect, it } from 'vitest';
import { DEFAULT_DATASET, generateQueries, generateRows, vectorText } from './dataset.js';
import { mulberry32, uuidFrom } from './rng.js';

const small = { ...DEFAULT_DATASET, rows: 40, namespaces: 4, dims: 16, centroids: 5 };

function parse(v: string): number[] {
  return JSON.parse(v) as number[];
}

describe('the seeded data generator', () => {
  it('mulberry32 gives the same stream for the same seed, and another for another seed', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('makes version-4 UUIDs', () => {
    const rng = mulberry32(1);
    for (let i = 0; i < 20; i++) {
      expect(uuidFrom(rng)).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    }
  });

  it('is deterministic: the same options give the same rows', () => {
    expect(generateRows(small)).toEqual(generateRows(small));
    expect(generateRows({ ...small, seed: 43 })[0]!.id).not.toBe(generateRows(small)[0]!.id);
  });

  it('a slice equals the same rows of the whole set', () => {
    expect(generateRows(small, 10, 5)).toEqual(generateRows(small).slice(10, 15));
  });

  it('spreads rows over the namespaces, with unique ids and unit vectors of the asked size', () => {
    const rows = generateRows(small);
    expect(new Set(rows.map((r) => r.namespace))).toEqual(
      new Set(['bench-0', 'bench-1', 'bench-2', 'bench-3']),
    );
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (const r of rows) {
      const v = parse(r.embedding);
      expect(v).toHaveLength(16);
      expect(Math.hypot(...v)).toBeCloseTo(1, 4);
      expect(() => JSON.parse(r.metadata) as unknown).not.toThrow();
    }
  });

  it('clusters the vectors: rows are much closer to some other row than random vectors are', () => {
    const rows = generateRows({ ...small, rows: 200, dims: 64, centroids: 4 });
    const vs = rows.map((r) => parse(r.embedding));
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const best = vs
      .slice(0, 20)
      .map((v, i) => Math.max(...vs.filter((_, j) => j !== i).map((w) => dot(v, w))));
    // Random 64-dim unit vectors have cosine similarity near 0; clustered ones near 1.
    for (const b of best) expect(b).toBeGreaterThan(0.5);
  });

  it('makes queries from the same centroids, reproducibly', () => {
    const q = generateQueries(small, 5);
    expect(generateQueries(small, 5)).toEqual(q);
    expect(parse(q[0]!)).toHaveLength(16);
    expect(q).not.toContain(generateRows(small)[0]!.embedding);
  });

  it('writes vectors in pgvector text form', () => {
    expect(vectorText([0.5, -0.25, 1 / 3])).toBe('[0.5,-0.25,0.333333]');
  });
});
