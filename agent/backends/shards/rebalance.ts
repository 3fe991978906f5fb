/**
 * Pure rebalancing: moves that empty groups marked for removal and even out the shards of
 * every co-location group over the active groups (at most one shard apart). Greedy and
 * deterministic: from the fullest group (then by name) to the emptiest (then by name),
 * the highest remainder first, as the engine's own pgmesh.rebalance_plan does.
 */
import type { LiveShard } from './types.js';

export interface RebalanceMove {
  colocationId: number;
  table: string;
  remainder: number;
  source: string;
  target: string;
  shards: number;
  bytes: number;
}

export function rebalanceMoves(
  shards: readonly LiveShard[],
  active: readonly string[],
  draining: readonly string[],
): RebalanceMove[] {
  const moves: RebalanceMove[] = [];
  if (active.length === 0) return moves;
  const byColocation = new Map<number, LiveShard[]>();
  for (const s of shards)
    byColocation.set(s.colocationId, [...(byColocation.get(s.colocationId) ?? []), s]);
  for (const colocationId of [...byColocation.keys()].sort((a, b) => a - b)) {
    const all = byColocation.get(colocationId)!;
    const anchor = [...new Set(all.map((s) => s.table))].sort()[0]!;
    const placement = new Map<number, string>();
    for (const s of all) if (s.table === anchor) placement.set(s.remainder, s.group);
    const weight = (r: number) => all.filter((s) => s.remainder === r);
    const count = (g: string) => [...placement.values()].filter((x) => x === g).length;
    const emptiest = () =>
      [...active].sort((a, b) => count(a) - count(b) || (a < b ? -1 : a > b ? 1 : 0))[0]!;
    const record = (remainder: number, source: string, target: string) => {
      placement.set(remainder, target);
      const w = weight(remainder);
      moves.push({
        colocationId,
        table: anchor,
        remainder,
        source,
        target,
        shards: w.length,
        bytes: w.reduce((n, s) => n + s.bytes, 0),
      });
    };
    // Shards on groups being removed go first, lowest remainder first.
    for (const g of [...draining].sort()) {
      const held = [...placement]
        .filter(([, x]) => x === g)
        .map(([r]) => r)
        .sort((a, b) => a - b);
      for (const r of held) record(r, g, emptiest());
    }
    for (let guard = 0; guard < placement.size * active.length + 1; guard++) {
      const target = emptiest();
      const source = [...active].sort(
        (a, b) => count(b) - count(a) || (a < b ? -1 : a > b ? 1 : 0),
      )[0]!;
      if (count(source) - count(target) <= 1) break;
      const r = Math.max(...[...placement].filter(([, x]) => x === source).map(([rem]) => rem));
      record(r, source, target);
    }
  }
  return moves;
}

/** Shards per group of each co-location group: `{ 1: { w1: 4, w2: 4 } }`. */
export function spread(
  shards: readonly LiveShard[],
  groups: readonly string[],
): Record<number, Record<string, number>> {
  const out: Record<number, Record<string, number>> = {};
  const anchors = new Map<number, string>();
  for (const s of shards) {
    const a = anchors.get(s.colocationId);
    if (a === undefined || s.table < a) anchors.set(s.colocationId, s.table);
  }
  for (const [colocationId, anchor] of anchors) {
    const counts: Record<string, number> = Object.fromEntries(groups.map((g) => [g, 0]));
    for (const s of shards) {
      if (s.colocationId === colocationId && s.table === anchor)
        counts[s.group] = (counts[s.group] ?? 0) + 1;
    }
    out[colocationId] = counts;
  }
  return out;
}
