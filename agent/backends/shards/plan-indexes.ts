/**
 * Pure: vector indexes on every shard. A shard needs a build when it has no valid HNSW
 * index on the column with the desired operator class, m and ef_construction. Indexes on
 * the column that differ (or are INVALID, left by a failed concurrent build) are replaced:
 * the new one is built concurrently under a new name, then the old one is dropped, so
 * queries never wait. The engine's remembered command (replayed on shards created by
 * moves) must build the desired index and no other on that column.
 */
import { indexSuffix, indexTemplate, parseHnswCommand, shardTableName } from './sql.js';
import type {
  DesiredShards,
  DesiredVectorIndex,
  DriftLike,
  IndexShardStep,
  LiveShards,
  ShardsAction,
  ShardsRefusal,
} from './types.js';

export interface IndexPlan {
  actions: Extract<ShardsAction, { kind: 'build-index' }>[];
  refusals: ShardsRefusal[];
  drift: DriftLike[];
}

function sameParams(
  i: { opclass: string | null; m: number | null; efConstruction: number | null },
  d: DesiredVectorIndex,
): boolean {
  return i.opclass === d.opclass && i.m === d.m && i.efConstruction === d.efConstruction;
}

export function planIndexes(desired: DesiredShards, live: LiveShards): IndexPlan {
  const out: IndexPlan = { actions: [], refusals: [], drift: [] };
  const unreachable = new Set(live.groups.filter((g) => !g.reachable).map((g) => g.name));
  for (const d of desired.vectorIndexes) {
    const resource = `index/${d.table}.${d.column}`;
    const table = desired.tables.find((t) => t.name === d.table);
    if (table?.kind === 'reference') {
      out.refusals.push({
        resource,
        reason: 'vector indexes on reference tables are not built by the shards backend yet',
      });
      out.drift.push({ resource, state: 'blocked', differences: [], reason: 'not supported yet' });
      continue;
    }
    const suffix = indexSuffix(d);
    const template = indexTemplate(d);
    const shards = live.shards.filter((s) => s.table === d.table);
    const longest = shards.length
      ? Math.max(...shards.map((s) => s.shardTable.length))
      : shardTableName(d.table, (table?.shardCount ?? 1) - 1).length;
    if (longest + 1 + suffix.length > 63) {
      out.refusals.push({
        resource,
        reason: `index name ${'<shard>'}_${suffix} would exceed 63 characters for ${d.table}; use a shorter table or column name`,
      });
      out.drift.push({
        resource,
        state: 'blocked',
        differences: [],
        reason: 'index name too long',
      });
      continue;
    }
    const base = { kind: 'build-index' as const, index: d, suffix, template };
    if (shards.length === 0) {
      // The table is created by this plan: build on every shard it gets.
      out.actions.push({ ...base, shards: [], reason: 'missing' });
      out.drift.push({
        resource,
        state: 'drifted',
        differences: [{ field: 'exists', desired: true, live: false }],
      });
      continue;
    }
    const steps: IndexShardStep[] = [];
    const live_: Array<{
      m: number | null;
      efConstruction: number | null;
      opclass: string | null;
      valid: boolean;
    }> = [];
    let blocked = false;
    for (const s of shards) {
      if (unreachable.has(s.group)) {
        blocked = true;
        continue;
      }
      const mine = live.indexes.filter(
        (i) =>
          i.group === s.group &&
          i.shardTable === s.shardTable &&
          i.method === 'hnsw' &&
          i.column === d.column,
      );
      live_.push(...mine);
      const good = mine.find((i) => i.valid && sameParams(i, d));
      const invalid = mine.filter((i) => !i.valid).map((i) => i.name);
      const replaced = mine
        .filter((i) => i.valid && i !== good && !sameParams(i, d))
        .map((i) => i.name);
      if (good && invalid.length === 0 && replaced.length === 0) continue;
      steps.push({
        shardTable: s.shardTable,
        dropBefore: invalid,
        build: !good,
        dropAfter: replaced,
      });
    }
    const commands = live.shardCommands
      .filter((c) => c.table === d.table)
      .map((c) => ({ command: c.command, hnsw: parseHnswCommand(c.command) }))
      .filter((c) => c.hnsw?.column === d.column);
    const commandsOk = commands.length === 1 && commands[0]!.command === template;
    const differences: Array<{ field: string; desired: unknown; live: unknown }> = [];
    const liveValues = <T>(f: (i: (typeof live_)[number]) => T): T[] => [...new Set(live_.map(f))];
    const invalidCount = live_.filter((i) => !i.valid).length;
    const missing = steps.filter((s) => s.build).length;
    if (liveValues((i) => i.m).some((m) => m !== d.m))
      differences.push({ field: 'm', desired: d.m, live: liveValues((i) => i.m) });
    if (liveValues((i) => i.efConstruction).some((e) => e !== d.efConstruction)) {
      differences.push({
        field: 'efConstruction',
        desired: d.efConstruction,
        live: liveValues((i) => i.efConstruction),
      });
    }
    if (liveValues((i) => i.opclass).some((o) => o !== d.opclass)) {
      differences.push({
        field: 'opclass',
        desired: d.opclass,
        live: liveValues((i) => i.opclass),
      });
    }
    if (invalidCount > 0)
      differences.push({ field: 'invalidIndexes', desired: 0, live: invalidCount });
    if (missing > 0) differences.push({ field: 'shardsWithoutIndex', desired: 0, live: missing });
    if (!commandsOk) {
      differences.push({
        field: 'rememberedCommand',
        desired: template,
        live: commands.map((c) => c.command),
      });
    }
    if (steps.length > 0 || !commandsOk) {
      const reason =
        invalidCount > 0
          ? 'invalid'
          : steps.some((s) => s.dropAfter.length > 0)
            ? 'parameters'
            : steps.length > 0
              ? 'missing'
              : 'commands';
      out.actions.push({ ...base, shards: steps, reason });
    }
    out.drift.push({
      resource,
      state: blocked ? 'blocked' : differences.length > 0 ? 'drifted' : 'in-sync',
      differences,
      ...(blocked ? { reason: 'a worker group holding shards of the table is unreachable' } : {}),
    });
  }
  return out;
}
