/**
 * How many shards the engine places on each worker group, for the swarm backend: a group
 * marked `remove: true` keeps its services until it holds none. Reference-table copies
 * are not counted (every group has them; nothing is lost with one group's copy).
 */
import { engineGroupName } from './desired.js';
import type { ShardsContext } from './types.js';

/** Manifest group name → shards on it; `known: false` when the engine could not say. */
export type GroupShardCounts =
  { known: true; counts: Record<string, number> } | { known: false; reason: string };

/**
 * Reads the placement through the coordinator. The engine's names are mapped back to the
 * Cluster manifest's (`-` ↔ `_`) for the groups given; a group the engine does not know
 * holds no shard.
 */
export async function shardsPerGroup(
  ctx: ShardsContext,
  groups: readonly string[],
): Promise<GroupShardCounts> {
  let session: Awaited<ReturnType<ShardsContext['connect']>>;
  try {
    session = await ctx.connect();
  } catch (err) {
    return { known: false, reason: `the coordinator is not reachable: ${(err as Error).message}` };
  }
  try {
    const installed = await session.client.query<{ ok: boolean }>(
      "SELECT to_regclass('pgmesh.shards') IS NOT NULL AS ok",
    );
    if (!installed.rows[0]?.ok) {
      return { known: false, reason: 'the sharding engine is not installed on the coordinator' };
    }
    const { rows } = await session.client.query<{ group_name: string; n: string }>(
      'SELECT group_name, count(*) AS n FROM pgmesh.shards GROUP BY 1',
    );
    const byEngineName = new Map(rows.map((r) => [r.group_name, Number(r.n)]));
    return {
      known: true,
      counts: Object.fromEntries(groups.map((g) => [g, byEngineName.get(engineGroupName(g)) ?? 0])),
    };
  } catch (err) {
    return { known: false, reason: `reading the placement failed: ${(err as Error).message}` };
  } finally {
    await session.release().catch(() => undefined);
  }
}
