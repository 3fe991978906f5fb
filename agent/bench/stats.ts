/** Latency statistics for the bench: pure functions over milliseconds. */

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  /** Operations per second of one client: n / (sum of latencies). */
  throughput: number;
}

/**
 * The p-th percentile (0–100) with linear interpolation between closest ranks (the
 * method of numpy's default and PostgreSQL's percentile_cont).
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[sorted.length - 1]!;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const w = rank - lo;
  return sorted[lo]! * (1 - w) + sorted[hi]! * w;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.length ? total / sorted.length : Number.NaN,
    throughput: total > 0 ? (sorted.length * 1000) / total : Number.NaN,
  };
}

/** Recall@k of `found` against the exact `truth` (both id lists). */
export function recallAt(k: number, found: readonly string[], truth: readonly string[]): number {
  const want = new Set(truth.slice(0, k));
  if (want.size === 0) return 1;
  let hit = 0;
  for (const id of found.slice(0, k)) if (want.has(id)) hit++;
  return hit / want.size;
}
