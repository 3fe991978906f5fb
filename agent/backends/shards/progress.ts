/**
 * A rebalance's progress, kept in the engine's own journal (`pgmesh.journal`, op
 * `agent_rebalance`, one row per run of moves, updated as it goes), so that every agent
 * replica, a restarted agent and the drift report see how far the last run got. A run is
 * the moves of one plan; its first move starts a new row.
 */
import type { ClientBase } from 'pg';
import type { DriftProgress } from '../types.js';

export const REBALANCE_OP = 'agent_rebalance';

/** The row's detail (jsonb), also LiveShards.rebalance. */
export type RebalanceRun = DriftProgress & { startedAt: string; updatedAt: string };

export async function startRun(
  c: ClientBase,
  run: Pick<RebalanceRun, 'total' | 'bytesTotal'>,
  at: Date,
): Promise<RebalanceRun> {
  const row: RebalanceRun = {
    unit: 'shard moves',
    done: 0,
    total: run.total,
    bytesDone: 0,
    bytesTotal: run.bytesTotal ?? 0,
    startedAt: at.toISOString(),
    updatedAt: at.toISOString(),
  };
  await c.query('INSERT INTO pgmesh.journal (op, detail) VALUES ($1, $2::jsonb)', [
    REBALANCE_OP,
    JSON.stringify(row),
  ]);
  return row;
}

export async function latestRun(c: ClientBase): Promise<RebalanceRun | null> {
  const { rows } = await c.query<{ detail: RebalanceRun }>(
    'SELECT detail FROM pgmesh.journal WHERE op = $1 ORDER BY id DESC LIMIT 1',
    [REBALANCE_OP],
  );
  return rows[0]?.detail ?? null;
}

/** Writes the latest run's new state (fields left out of `run` are dropped). */
export async function saveRun(c: ClientBase, run: RebalanceRun): Promise<void> {
  await c.query(
    `UPDATE pgmesh.journal SET detail = $2::jsonb
      WHERE id = (SELECT max(id) FROM pgmesh.journal WHERE op = $1)`,
    [REBALANCE_OP, JSON.stringify(run)],
  );
}

/**
 * Bytes of a running move's shard tables on its target group so far (the initial copy
 * writes them), read through dblink with the names passed to format() as a value.
 */
export async function copiedBytes(c: ClientBase, moveId: number): Promise<number> {
  const { rows } = await c.query<{ b: string | null }>(
    `SELECT t.b FROM pgmesh.data_moves m
       JOIN pgmesh.worker_groups g ON g.group_name = m.target_group
       CROSS JOIN LATERAL public.dblink(g.server_name, format(
         'SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
           WHERE c.relnamespace = %L::regnamespace AND c.relname = ANY (%L::name[])',
         'pgmesh_shards',
         (SELECT array_agg(s.shard_table) FROM pgmesh.shards s JOIN pgmesh.distributed_tables d USING (relid)
           WHERE d.colocation_id = m.colocation_id AND s.remainder = m.remainder))) AS t(b bigint)
      WHERE m.move_id = $1`,
    [moveId],
  );
  return Number(rows[0]?.b ?? 0);
}
