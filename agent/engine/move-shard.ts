/**
 * The agent's driver of an online shard move. Each step is one engine function call on
 * the coordinator in its own transaction (see sql/engine/004_moves.sql); the journal row
 * in pgmesh.data_moves holds the state, so a restarted driver resumes with resumeMove().
 * On a failure before the switch the move is abandoned with move_shard_cleanup, which
 * leaves no slot, publication, subscription or partial shard behind.
 */
import type { ClientBase } from 'pg';

export type MoveState = 'started' | 'copying' | 'ready' | 'switched' | 'done' | 'cleaned';

export interface MoveResult {
  moveId: number;
  /** Time the co-located parents were locked at the switch, measured in the engine. */
  pauseMs: number;
  copyMs: number;
}

export interface MoveOptions {
  /** Give up waiting for the initial copy after this long. */
  copyTimeoutMs?: number;
  pollMs?: number;
  onStep?: (moveId: number, state: MoveState) => void;
  /** Called at each poll of the initial copy (progress: bytes copied so far). */
  onCopyPoll?: (moveId: number) => Promise<void> | void;
}

export interface PlannedMove {
  colocationId: number;
  table: string;
  remainder: number;
  sourceGroup: string;
  targetGroup: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function state(client: ClientBase, moveId: number): Promise<MoveState> {
  const { rows } = await client.query<{ state: MoveState }>(
    'SELECT state FROM pgmesh.data_moves WHERE move_id = $1',
    [moveId],
  );
  if (!rows[0]) throw new Error(`pgmesh: no move ${moveId}`);
  return rows[0].state;
}

/** Continues a journaled move from its state to 'done'. */
export async function resumeMove(
  client: ClientBase,
  moveId: number,
  options: MoveOptions = {},
): Promise<MoveResult> {
  const t0 = Date.now();
  const deadline = t0 + (options.copyTimeoutMs ?? 600_000);
  try {
    let s = await state(client, moveId);
    while (s === 'copying') {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pgmesh.move_shard_sync($1) AS ok',
        [moveId],
      );
      if (rows[0]?.ok) break;
      if (Date.now() > deadline) throw new Error(`pgmesh: move ${moveId}: copy timed out`);
      await options.onCopyPoll?.(moveId);
      await sleep(options.pollMs ?? 200);
    }
    s = await state(client, moveId);
    options.onStep?.(moveId, s);
    const copyMs = Date.now() - t0;
    if (s === 'ready') {
      await client.query('SELECT pgmesh.move_shard_switch($1)', [moveId]);
      s = await state(client, moveId);
      options.onStep?.(moveId, s);
    }
    if (s === 'switched') {
      await client.query('SELECT pgmesh.move_shard_finish($1)', [moveId]);
      options.onStep?.(moveId, 'done');
    }
    const { rows } = await client.query<{ pause_ms: number | null; state: MoveState }>(
      'SELECT pause_ms, state FROM pgmesh.data_moves WHERE move_id = $1',
      [moveId],
    );
    if (rows[0]?.state !== 'done') {
      throw new Error(`pgmesh: move ${moveId} ended in state ${rows[0]?.state ?? 'unknown'}`);
    }
    return { moveId, pauseMs: rows[0].pause_ms ?? 0, copyMs };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    await client.query('SELECT pgmesh.move_shard_cleanup($1, $2)', [moveId, msg]).catch(() => {});
    throw err;
  }
}

export async function moveShard(
  client: ClientBase,
  table: string,
  remainder: number,
  targetGroup: string,
  options: MoveOptions = {},
): Promise<MoveResult> {
  const { rows } = await client.query<{ id: string }>(
    'SELECT pgmesh.move_shard_start($1::regclass, $2, $3) AS id',
    [table, remainder, targetGroup],
  );
  const moveId = Number(rows[0]?.id);
  options.onStep?.(moveId, 'copying');
  return resumeMove(client, moveId, options);
}

export async function rebalancePlan(client: ClientBase): Promise<PlannedMove[]> {
  const { rows } = await client.query<{
    colocation_id: number;
    table_name: string;
    remainder: number;
    source_group: string;
    target_group: string;
  }>(
    'SELECT colocation_id, table_name::text, remainder, source_group, target_group FROM pgmesh.rebalance_plan()',
  );
  return rows.map((r) => ({
    colocationId: r.colocation_id,
    table: r.table_name,
    remainder: r.remainder,
    sourceGroup: r.source_group,
    targetGroup: r.target_group,
  }));
}

/** Runs the rebalance plan one move at a time; returns each move's result. */
export async function rebalance(
  client: ClientBase,
  options: MoveOptions = {},
): Promise<MoveResult[]> {
  const results: MoveResult[] = [];
  for (const m of await rebalancePlan(client)) {
    results.push(await moveShard(client, m.table, m.remainder, m.targetGroup, options));
  }
  return results;
}
