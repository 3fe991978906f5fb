/**
 * Pure: what to do to bring the engine (`live`) to the manifests (`desired`). Order:
 * engine install → worker groups → tables → indexes → moves (resume a running one first;
 * new moves only when none runs) → removal of emptied groups → ANALYZE of foreign
 * partitions without current statistics → roles (coordinator, then every worker group).
 * Changes the engine cannot make on a live table (distribution column, shard count, a
 * declared column changed or gone) are refusals; columns added by a migration tool are
 * not a difference.
 */
import { driftResourceOf, shardsDependencies } from './depends.js';
import { createHash } from 'node:crypto';
import type { BackendPlan, DriftItem, PlannedAction } from '../types.js';
import { planAnalyze } from './plan-analyze.js';
import { planIndexes } from './plan-indexes.js';
import { planMcp } from './plan-mcp.js';
import { planRoles } from './plan-roles.js';
import { rebalanceMoves, spread } from './rebalance.js';
import { canonicalType } from './sql.js';
import type {
  DesiredShards,
  DesiredTable,
  DriftLike,
  LiveShards,
  ShardsAction,
  ShardsRefusal,
} from './types.js';

export interface ShardsPlannedAction extends PlannedAction {
  backend: 'shards';
  action: ShardsAction;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/** Tables that others co-locate with come first; otherwise manifest order. */
function orderTables(tables: readonly DesiredTable[]): DesiredTable[] {
  const out: DesiredTable[] = [];
  const visit = (t: DesiredTable, depth: number): void => {
    if (out.includes(t) || depth > tables.length) return;
    const dep = t.colocateWith ? tables.find((x) => x.name === t.colocateWith) : undefined;
    if (dep) visit(dep, depth + 1);
    if (!out.includes(t)) out.push(t);
  };
  for (const t of tables) visit(t, 0);
  return out;
}

export function planShards(
  desired: DesiredShards,
  live: LiveShards,
): BackendPlan<ShardsPlannedAction> {
  const actions: ShardsAction[] = [];
  const refusals: ShardsRefusal[] = [];
  const drift: DriftLike[] = [];

  if (live.engineVersion < desired.engineVersion) {
    actions.push({ kind: 'install-engine', from: live.engineVersion, to: desired.engineVersion });
    drift.push({
      resource: 'engine',
      state: 'drifted',
      differences: [{ field: 'version', desired: desired.engineVersion, live: live.engineVersion }],
    });
  }

  // Prepared transactions left by a crash (the engine's recovery worker resolves them
  // too; the agent makes them visible and resolves them in its cycle).
  const resolvable = (live.inDoubt ?? []).filter(
    (t): t is typeof t & { decision: 'commit' | 'rollback' } => t.decision !== 'pending',
  );
  if (resolvable.length > 0) {
    actions.push({
      kind: 'recover-prepared',
      transactions: resolvable.map((t) => ({ group: t.group, gid: t.gid, decision: t.decision })),
    });
    drift.push({
      resource: 'engine/in-doubt',
      state: 'drifted',
      differences: [
        { field: 'prepared transactions', desired: 0, live: resolvable.length },
        ...resolvable.map((t) => ({
          field: `${t.group}/${t.gid}`,
          desired: t.decision === 'commit' ? 'committed' : 'rolled back',
          live: `prepared ${Math.round(t.ageSeconds)} s ago`,
        })),
      ],
    });
  }

  // Worker groups.
  const liveGroups = new Map(live.groups.map((g) => [g.name, g]));
  for (const g of desired.groups) {
    const current = liveGroups.get(g.name);
    const resource = `group/${g.name}`;
    if (g.remove) {
      if (current?.state === 'active') actions.push({ kind: 'drain-group', group: g.name });
      if (current) {
        drift.push({
          resource,
          state: 'drifted',
          differences: [{ field: 'exists', desired: false, live: true }],
        });
      }
      continue;
    }
    if (!current) {
      actions.push({
        kind: 'register-group',
        group: g.name,
        hosts: g.hosts,
        port: g.port,
        dbname: g.dbname,
      });
      drift.push({
        resource,
        state: 'drifted',
        differences: [{ field: 'registered', desired: true, live: false }],
      });
      continue;
    }
    const differences = [
      ...(JSON.stringify(current.hosts) !== JSON.stringify(g.hosts)
        ? [{ field: 'hosts', desired: g.hosts, live: current.hosts }]
        : []),
      ...(current.port !== g.port ? [{ field: 'port', desired: g.port, live: current.port }] : []),
      ...(current.dbname !== g.dbname
        ? [{ field: 'dbname', desired: g.dbname, live: current.dbname }]
        : []),
      ...(current.state !== 'active'
        ? [{ field: 'state', desired: 'active', live: current.state }]
        : []),
    ];
    if (differences.some((d) => d.field !== 'state')) {
      actions.push({
        kind: 'update-group',
        group: g.name,
        hosts: g.hosts,
        port: g.port,
        dbname: g.dbname,
      });
    }
    if (current.state !== 'active') {
      refusals.push({
        resource,
        reason: `group ${g.name} is draining in the engine; re-activating a group is not automated`,
      });
    }
    drift.push({
      resource,
      state: !current.reachable ? 'blocked' : differences.length ? 'drifted' : 'in-sync',
      differences,
      ...(!current.reachable
        ? { reason: `unreachable from the coordinator: ${current.error ?? 'unknown error'}` }
        : {}),
    });
  }
  const declared = new Set(desired.groups.map((g) => g.name));
  for (const g of live.groups) {
    if (!declared.has(g.name)) {
      refusals.push({
        resource: `group/${g.name}`,
        reason: `worker group ${g.name} is registered in the engine but not in the Cluster manifest; keep it there with remove: true to drain and remove it`,
      });
    }
  }

  // Tables.
  const liveTables = new Map(live.tables.map((t) => [t.name, t]));
  for (const t of orderTables(desired.tables)) {
    const current = liveTables.get(t.name);
    const resource = `table/${t.name}`;
    if (!current || current.kind === 'plain') {
      actions.push({
        kind: t.kind === 'distributed' ? 'create-distributed-table' : 'create-reference-table',
        table: t,
      });
      drift.push({
        resource,
        state: 'drifted',
        differences: [{ field: 'kind', desired: t.kind, live: current?.kind ?? 'missing' }],
      });
      continue;
    }
    const differences: Array<{ field: string; desired: unknown; live: unknown }> = [];
    if (current.kind !== t.kind)
      differences.push({ field: 'kind', desired: t.kind, live: current.kind });
    if (t.kind === 'distributed' && current.kind === 'distributed') {
      if (current.distributionColumn !== t.distributionColumn) {
        differences.push({
          field: 'distributionColumn',
          desired: t.distributionColumn,
          live: current.distributionColumn,
        });
      }
      if (current.shardCount !== t.shardCount)
        differences.push({ field: 'shardCount', desired: t.shardCount, live: current.shardCount });
      if (t.colocateWith) {
        const other = liveTables.get(t.colocateWith);
        if (other?.colocationId !== undefined && other.colocationId !== current.colocationId) {
          differences.push({
            field: 'colocateWith',
            desired: t.colocateWith,
            live: 'another co-location group',
          });
        }
      }
    }
    // Git and migrations share the schema (docs/engine.md, "Schema changes"): the manifest's
    // columns create the table; afterwards every declared column must still be there
    // with its type and NOT NULL, and columns a migration added are the migration's.
    const liveColumns = new Map(current.columns.map((c) => [c.name, c]));
    const changed = t.columns
      .map((c) => ({ name: c.name, type: canonicalType(c.type), notNull: c.notNull }))
      .filter((w) => {
        const l = liveColumns.get(w.name);
        return !l || l.type !== w.type || l.notNull !== w.notNull;
      });
    if (changed.length > 0) {
      differences.push({
        field: 'columns',
        desired: changed,
        live: changed.map((w) => liveColumns.get(w.name) ?? null),
      });
    }
    if (differences.length > 0) {
      refusals.push({
        resource,
        reason: `${t.name} exists with another ${differences.map((d) => d.field).join(', ')}; the shards backend does not alter or redistribute a live table`,
      });
    }
    drift.push({ resource, state: differences.length ? 'blocked' : 'in-sync', differences });
  }

  // Indexes.
  const indexes = planIndexes(desired, live);
  actions.push(...indexes.actions);
  refusals.push(...indexes.refusals);
  drift.push(...indexes.drift);

  // Moves.
  const removing = desired.groups
    .filter((g) => g.remove && liveGroups.has(g.name))
    .map((g) => g.name);
  const active = desired.groups
    .filter(
      (g) =>
        !g.remove &&
        liveGroups.get(g.name)?.reachable !== false &&
        liveGroups.get(g.name)?.state !== 'draining',
    )
    .map((g) => g.name);
  const before = spread(live.shards, [...active, ...removing]);
  let planned: ReturnType<typeof rebalanceMoves> = [];
  if (live.moves.length > 0) {
    for (const m of live.moves) {
      const table = live.shards.find((s) => s.colocationId === m.colocationId)?.table ?? '';
      actions.push({
        kind: 'resume-move',
        moveId: m.moveId,
        table,
        remainder: m.remainder,
        target: m.target,
      });
      drift.push({
        resource: `move/${m.moveId}`,
        state: 'acting',
        differences: [{ field: 'state', desired: 'done', live: m.state }],
        reason: `shard ${m.remainder} of ${table}: ${m.source} → ${m.target}`,
      });
    }
  } else {
    planned = rebalanceMoves(live.shards, active, removing);
    const bytesTotal = planned.reduce((n, m) => n + m.bytes, 0);
    let bytesBefore = 0;
    planned.forEach((m, i) => {
      actions.push({
        kind: 'move-shard',
        ...m,
        step: i + 1,
        steps: planned.length,
        bytesBefore,
        bytesTotal,
      });
      bytesBefore += m.bytes;
    });
  }
  const after = { ...before };
  for (const m of planned) {
    const c = { ...(after[m.colocationId] ?? {}) };
    c[m.source] = (c[m.source] ?? 0) - 1;
    c[m.target] = (c[m.target] ?? 0) + 1;
    after[m.colocationId] = c;
  }
  for (const id of Object.keys(before).map(Number)) {
    const moved = planned.filter((m) => m.colocationId === id);
    drift.push({
      resource: `placement/${live.shards.find((s) => s.colocationId === id)?.table ?? id}`,
      state: moved.length ? 'drifted' : 'in-sync',
      differences: moved.length
        ? [{ field: 'shardsPerGroup', desired: after[id], live: before[id] }]
        : [],
    });
  }
  const rebalance = rebalanceItem(live, planned);
  if (rebalance) drift.push(rebalance);
  for (const g of removing) {
    const held = live.shards.filter((s) => s.group === g);
    const movedAway = held.every((s) =>
      planned.some(
        (m) => m.colocationId === s.colocationId && m.remainder === s.remainder && m.source === g,
      ),
    );
    if (live.moves.length === 0 && movedAway) {
      actions.push({ kind: 'remove-group', group: g });
    }
  }

  // Statistics of the foreign partitions, then roles (coordinator first, then every group).
  const analyze = planAnalyze(desired, live, planned);
  actions.push(...analyze.actions);
  drift.push(...analyze.drift);
  const roles = planRoles(desired, live);
  const passwordsSet = new Set(
    roles.actions.flatMap((a) => (a.kind === 'ensure-role' && a.setPassword ? [a.role] : [])),
  );
  const mcp = planMcp(desired, live, passwordsSet);
  // MCP policies before the roles (a client role has them before it may log in), user
  // mappings after (they carry the password the role gets). While the policies cannot be
  // put on the tables yet (created in this plan), the client roles wait a cycle.
  const mcpRoles = new Set(desired.mcpClients.map((c) => c.role));
  const hold = mcp.drift.some((d) => d.resource === 'mcp/policies' && d.state === 'blocked');
  const roleActions = hold
    ? roles.actions.filter(
        (a) =>
          !((a.kind === 'ensure-role' || a.kind === 'ensure-group-role') && mcpRoles.has(a.role)),
      )
    : roles.actions;
  actions.push(...mcp.policies, ...roleActions, ...(hold ? [] : mcp.mappings));
  drift.push(...mcp.drift, ...roles.drift);

  const placementDigest = hash(live.shards.map((s) => [s.table, s.remainder, s.group]));
  // What every other step was planned from: the live engine state, sizes left out. The
  // same drift found again after it was corrected once is a new step, not a repeat.
  const liveDigest = hash([
    live.engineVersion,
    live.groups,
    live.tables,
    live.indexes.map((i) => ({ ...i, bytes: undefined })),
    live.shardCommands,
    live.roles,
    live.mcp ?? null,
    placementDigest,
  ]);
  const plannedActions = actions.map((a) => toPlanned(a, placementDigest, liveDigest));
  const deps = shardsDependencies(actions);
  plannedActions.forEach((p, i) => {
    p.dependsOn = (deps[i] ?? []).map((j) => (plannedActions[j] as ShardsPlannedAction).key);
    p.resource = driftResourceOf(p.action);
  });
  return {
    actions: plannedActions,
    refusals,
    drift: drift.map((d): DriftItem => ({ backend: 'shards', ...d })),
  };
}

/**
 * The `rebalance` drift item: the moves this plan makes (drifted, nothing done yet), the
 * recorded run a resumed move belongs to (acting), or the last run (in sync, as it ended).
 */
function rebalanceItem(
  live: LiveShards,
  planned: ReturnType<typeof rebalanceMoves>,
): DriftLike | null {
  const last = live.rebalance ?? null;
  if (live.moves.length > 0) {
    const m = live.moves[0]!;
    return {
      resource: 'rebalance',
      state: 'acting',
      differences: [],
      reason: `move ${m.moveId} (${m.source} → ${m.target}) is ${m.state}`,
      progress: last && !last.finishedAt ? last : { unit: 'shard moves', done: 0, total: 1 },
    };
  }
  if (planned.length > 0) {
    return {
      resource: 'rebalance',
      state: 'drifted',
      differences: [{ field: 'pendingMoves', desired: 0, live: planned.length }],
      progress: {
        unit: 'shard moves',
        done: 0,
        total: planned.length,
        bytesDone: 0,
        bytesTotal: planned.reduce((n, m) => n + m.bytes, 0),
      },
      ...(last && !last.finishedAt
        ? { reason: `the last run stopped at ${last.done}/${last.total} shard moves` }
        : {}),
    };
  }
  return last ? { resource: 'rebalance', state: 'in-sync', differences: [], progress: last } : null;
}

function risk(a: ShardsAction): PlannedAction['risk'] {
  switch (a.kind) {
    case 'move-shard':
    case 'resume-move':
      return 'data-moving';
    case 'remove-group':
      return 'destructive';
    case 'build-index':
      return a.reason === 'missing' || a.reason === 'commands' ? 'safe' : 'disruptive';
    default:
      return 'safe';
  }
}

function resourceOf(a: ShardsAction): string {
  switch (a.kind) {
    case 'install-engine':
      return 'engine';
    case 'recover-prepared':
      return 'engine/in-doubt';
    case 'register-group':
    case 'update-group':
    case 'drain-group':
    case 'remove-group':
      return a.group;
    case 'create-distributed-table':
    case 'create-reference-table':
      return a.table.name;
    case 'build-index':
      return `${a.index.table}.${a.index.column}`;
    case 'resume-move':
      return String(a.moveId);
    case 'move-shard':
      return `${a.table}/${a.remainder}`;
    case 'ensure-role':
      return a.role;
    case 'ensure-group-role':
      return `${a.role}@${a.group}`;
    case 'analyze':
      return a.table;
    case 'sync-mcp-policies':
      return 'mcp';
    case 'ensure-mcp-mapping':
      return a.role;
  }
}

/**
 * The key names the step and what it was planned from: the same plan from the same live
 * state gives the same key (the journal runs it once); a move's key carries the placement
 * it was planned from, every other step the live state, so correcting the same drift
 * again after a later change is a new step.
 */
function toPlanned(
  a: ShardsAction,
  placementDigest: string,
  liveDigest: string,
): ShardsPlannedAction {
  // A move's key leaves out its position in the plan (step/steps/bytes so far).
  const payload =
    a.kind === 'move-shard'
      ? [a.colocationId, a.table, a.remainder, a.source, a.target, placementDigest]
      : [a, liveDigest];
  return {
    key: `shards:${a.kind}:${resourceOf(a)}:${hash(payload)}`,
    backend: 'shards',
    summary: describeShardsAction(a),
    risk: risk(a),
    action: a,
  };
}

function size(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

/** One line per action, for plans, logs and reports. Never holds a password. */
export function describeShardsAction(a: ShardsAction): string {
  switch (a.kind) {
    case 'install-engine':
      return `install engine SQL (version ${a.from} → ${a.to})`;
    case 'register-group':
      return `register worker group ${a.group} (hosts ${a.hosts.join(',')})`;
    case 'update-group':
      return `update worker group ${a.group} (hosts ${a.hosts.join(',')}, port ${a.port}, database ${a.dbname})`;
    case 'drain-group':
      return `drain worker group ${a.group} (marked remove: true)`;
    case 'recover-prepared': {
      const n = (d: string) => a.transactions.filter((t) => t.decision === d).length;
      return `resolve ${a.transactions.length} prepared transaction(s) left by a crash (commit ${n('commit')}, roll back ${n('rollback')})`;
    }
    case 'remove-group':
      return `unregister worker group ${a.group} once it holds no shard`;
    case 'create-distributed-table':
      return `create distributed table ${a.table.name} (${a.table.shardCount} shards by ${a.table.distributionColumn}${a.table.colocateWith ? `, co-located with ${a.table.colocateWith}` : ''})`;
    case 'create-reference-table':
      return `create reference table ${a.table.name}`;
    case 'build-index': {
      const p = `hnsw ${a.index.opclass}, m ${a.index.m}, ef_construction ${a.index.efConstruction}`;
      const where = a.shards.length ? `${a.shards.length} shard(s)` : 'every shard';
      const why = {
        missing: 'build',
        parameters: 'rebuild',
        invalid: 'rebuild INVALID',
        commands: 'record',
      }[a.reason];
      return `${why} index on ${a.index.table}.${a.index.column} on ${where} (${p})`;
    }
    case 'resume-move':
      return `resume shard move ${a.moveId} (shard ${a.remainder} of ${a.table} → ${a.target})`;
    case 'move-shard':
      return `move shard ${a.remainder} of ${a.table}${a.shards > 1 ? ` (+${a.shards - 1} co-located)` : ''} ${a.source} → ${a.target} (move ${a.step}/${a.steps}, ${size(a.bytes)})`;
    case 'ensure-role':
      return `${a.create ? 'create' : 'update'} role ${a.role} (preset ${a.preset}${a.create ? '' : `: ${a.changes.join(', ')}`})`;
    case 'ensure-group-role':
      return `${a.create ? 'create' : 'update'} role ${a.role} on worker group ${a.group} (preset ${a.preset}${a.create ? '' : `: ${a.changes.join(', ')}`})`;
    case 'analyze':
      return `analyze ${a.partitions.length} foreign partition(s) of ${a.table} (${a.reason === 'never-analyzed' ? 'no statistics' : 'rows changed'})`;
    case 'sync-mcp-policies':
      return `sync row-level security of ${a.clients.length} MCP client role(s) on ${a.tables.length} table(s) and their shards (${a.reason})`;
    case 'ensure-mcp-mapping':
      return `set the user mapping of MCP client role ${a.role} to ${a.servers.length} worker group(s) (${a.reason})`;
  }
}
