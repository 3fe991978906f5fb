/**
 * Recall@10 of the cluster's vector queries against exact search on the same data: the
 * same query on the baseline with index scans off (a sequential scan and a sort).
 */
import type pg from 'pg';
import { recallAt } from './stats.js';

export interface RecallResult {
  name: string;
  queries: number;
  /** Mean recall@10 of the cluster's answers. */
  cluster: number;
  /** Mean recall@10 of the baseline's own HNSW answers, for reference. */
  baseline: number;
  target: number;
  met: boolean;
}

async function ids(c: pg.Client, sql: string, params: unknown[]): Promise<string[]> {
  return (await c.query<{ id: string }>(sql, params)).rows.map((r) => r.id);
}

export async function exactIds(c: pg.Client, sql: string, params: unknown[]): Promise<string[]> {
  await c.query('BEGIN');
  try {
    await c.query('SET LOCAL enable_indexscan = off');
    await c.query('SET LOCAL enable_bitmapscan = off');
    return await ids(c, sql, params);
  } finally {
    await c.query('COMMIT');
  }
}

export async function measureRecall(
  name: string,
  cluster: pg.Client,
  baseline: pg.Client,
  exact: pg.Client,
  sql: string,
  params: unknown[][],
  target = 0.95,
): Promise<RecallResult> {
  let rc = 0;
  let rb = 0;
  for (const p of params) {
    const truth = await exactIds(exact, sql, p);
    rc += recallAt(10, await ids(cluster, sql, p), truth);
    rb += recallAt(10, await ids(baseline, sql, p), truth);
  }
  const n = Math.max(params.length, 1);
  const result = { name, queries: params.length, cluster: rc / n, baseline: rb / n, target };
  return { ...result, met: result.cluster >= target };
}
