/**
 * Timed workloads, cluster and baseline interleaved op by op (the order alternating), so
 * noise on the shared machine hits both sides alike.
 */
import type pg from 'pg';
import { summarize, type LatencySummary } from './stats.js';

export interface Paired {
  cluster: number[];
  baseline: number[];
}

export interface Side {
  cluster: () => Promise<void>;
  baseline: () => Promise<void>;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs `warmup + n` paired operations and keeps the last n of each side. */
export async function interleave(
  n: number,
  warmup: number,
  op: (i: number) => Side,
  onProgress?: (done: number, total: number) => void,
): Promise<Paired> {
  const out: Paired = { cluster: [], baseline: [] };
  for (let i = 0; i < warmup + n; i++) {
    const s = op(i);
    let c: number;
    let b: number;
    if (i % 2 === 0) {
      c = await timed(s.cluster);
      b = await timed(s.baseline);
    } else {
      b = await timed(s.baseline);
      c = await timed(s.cluster);
    }
    if (i >= warmup) {
      out.cluster.push(c);
      out.baseline.push(b);
    }
    if ((i + 1) % 50 === 0) onProgress?.(i + 1, warmup + n);
  }
  return out;
}

/** A query that must return exactly `rows` rows (a wrong count means a broken route). */
export async function expectRows(
  c: pg.Client,
  sql: string,
  params: unknown[],
  rows: number,
  what: string,
): Promise<void> {
  const r = await c.query(sql, params);
  if (r.rowCount !== rows) throw new Error(`${what}: expected ${rows} rows, got ${r.rowCount}`);
}

export type Comparator = '<=' | '>=';

export interface WorkloadResult {
  name: string;
  /** What one operation is. */
  unit: 'ops' | 'rows';
  cluster: LatencySummary;
  baseline: LatencySummary;
  /** cluster / baseline: of p50 latency (lower is better) or of throughput (bulk). */
  ratio: number;
  ratioOf: 'p50' | 'throughput';
  target: { comparator: Comparator; value: number; of: string };
  met: boolean;
  note?: string;
}

export function compare(
  name: string,
  paired: Paired,
  target: WorkloadResult['target'],
  note?: string,
): WorkloadResult {
  const cluster = summarize(paired.cluster);
  const baseline = summarize(paired.baseline);
  const ratio = cluster.p50 / baseline.p50;
  return {
    name,
    unit: 'ops',
    cluster,
    baseline,
    ratio,
    ratioOf: 'p50',
    target,
    met: target.comparator === '<=' ? ratio <= target.value : ratio >= target.value,
    note,
  };
}
