/**
 * Pure: statistics of the foreign partitions. postgres_fdw pushes `ORDER BY ... LIMIT` of
 * a routed query down to the shard only when the foreign partition has statistics, so the
 * agent keeps them current. Rule, per foreign partition of a declared distributed table:
 * - never analyzed (`pg_class.reltuples < 0` on the coordinator: a new table, or a
 *   partition attached by a shard move), or
 * - analyzed while its shard was empty (`reltuples = 0`) and the shard has rows now
 *   (`n_live_tup` on the worker).
 * Both converge: one ANALYZE ends them. A rule on the size of a change ("rows differ by
 * more than 20%") did not: postgres_fdw takes a sampled table's row count from the
 * worker's own `reltuples`, which can stay apart from `n_live_tup` until the worker's
 * autovacuum analyzes the shard, so the same ANALYZE was planned again every cycle.
 * One `analyze` action per table lists the partitions that need it. Shards on an
 * unreachable group, or moved by this same plan (their partition is replaced), wait.
 */
import type { RebalanceMove } from './rebalance.js';
import type { DesiredShards, DriftLike, LiveShard, LiveShards, ShardsAction } from './types.js';

export interface AnalyzePlan {
  actions: Extract<ShardsAction, { kind: 'analyze' }>[];
  drift: DriftLike[];
}

/** Why a partition needs ANALYZE, or null when its statistics are current enough. */
export function staleness(
  s: Pick<LiveShard, 'analyzedRows' | 'rows'>,
): 'never-analyzed' | 'changed' | null {
  const analyzed = s.analyzedRows ?? -1;
  if (analyzed < 0) return 'never-analyzed';
  if (s.rows === null || s.rows === undefined) return null;
  return analyzed === 0 && s.rows > 0 ? 'changed' : null;
}

export function planAnalyze(
  desired: DesiredShards,
  live: LiveShards,
  moves: readonly Pick<RebalanceMove, 'colocationId' | 'remainder'>[],
): AnalyzePlan {
  const out: AnalyzePlan = { actions: [], drift: [] };
  const unreachable = new Set(live.groups.filter((g) => !g.reachable).map((g) => g.name));
  const moving = new Set(moves.map((m) => `${m.colocationId}/${m.remainder}`));
  for (const m of live.moves) moving.add(`${m.colocationId}/${m.remainder}`);
  for (const t of desired.tables) {
    if (t.kind !== 'distributed') continue;
    const stale = live.shards
      .filter((s) => s.table === t.name && s.partition !== undefined)
      .filter((s) => !unreachable.has(s.group) && !moving.has(`${s.colocationId}/${s.remainder}`))
      .map((s) => ({ s, why: staleness(s) }))
      .filter((x) => x.why !== null);
    if (stale.length === 0) continue;
    const never = stale.filter((x) => x.why === 'never-analyzed').length;
    out.actions.push({
      kind: 'analyze',
      table: t.name,
      partitions: stale.map(({ s }) => ({
        partition: s.partition!,
        analyzedRows: s.analyzedRows ?? -1,
        rows: s.rows ?? null,
      })),
      reason: never > 0 ? 'never-analyzed' : 'changed',
    });
    out.drift.push({
      resource: `statistics/${t.name}`,
      state: 'drifted',
      differences: [
        {
          field: 'partitionsWithoutCurrentStatistics',
          desired: 0,
          live: stale.length,
        },
      ],
      reason:
        never > 0
          ? `${never} foreign partition(s) never analyzed`
          : 'analyzed while empty; the shards have rows now',
    });
  }
  return out;
}
