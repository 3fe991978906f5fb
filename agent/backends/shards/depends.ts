/**
 * Which earlier steps of a shards plan each step needs (pure). The pipeline runs a step
 * whose prerequisites all succeeded and marks it blocked when one failed; steps that need
 * nothing of a failed one go on (a reference table that cannot be created does not stop
 * the grants of a role that does not touch it, nor the statistics of other tables).
 */
import type { ShardsAction } from './types.js';

/** The drift item (resource) each step puts right, as the planner names them. */
export function driftResourceOf(a: ShardsAction): string {
  switch (a.kind) {
    case 'install-engine':
      return 'engine';
    case 'recover-prepared':
      return 'engine/in-doubt';
    case 'register-group':
    case 'update-group':
    case 'drain-group':
    case 'remove-group':
      return `group/${a.group}`;
    case 'create-distributed-table':
    case 'create-reference-table':
      return `table/${a.table.name}`;
    case 'build-index':
      return `index/${a.index.table}.${a.index.column}`;
    case 'resume-move':
    case 'move-shard':
      return 'rebalance';
    case 'analyze':
      return `statistics/${a.table}`;
    case 'ensure-role':
    case 'ensure-group-role':
      return `role/${a.role}`;
    case 'sync-mcp-policies':
      return 'mcp/policies';
    case 'ensure-mcp-mapping':
      return `mcp/mapping/${a.role}`;
  }
}

/** Tables a step reads or writes, by `schema.table` (shard tables map to theirs). */
function tablesOf(a: ShardsAction, known: string[]): string[] {
  switch (a.kind) {
    case 'create-distributed-table':
    case 'create-reference-table':
      return a.table.colocateWith ? [a.table.colocateWith] : [];
    case 'build-index':
      return [a.index.table];
    case 'analyze':
    case 'resume-move':
    case 'move-shard':
      return [a.table];
    case 'ensure-role':
      return Object.keys(a.tablePrivileges);
    case 'sync-mcp-policies':
      return a.tables;
    case 'ensure-group-role':
      // Shard tables are `<table>_<n>` in pgmesh_shards: the table they belong to.
      return known.filter((t) =>
        Object.keys(a.tablePrivileges).some(
          (s) => s.startsWith(`${t.replace('.', '_')}_`) || s.startsWith(`${t.split('.')[1]}_`),
        ),
      );
    default:
      return [];
  }
}

/** For each step, the indices of the earlier steps it needs. */
export function shardsDependencies(actions: ShardsAction[]): number[][] {
  const install = actions.findIndex((a) => a.kind === 'install-engine');
  const created = new Map<string, number>();
  actions.forEach((a, i) => {
    if (a.kind === 'create-distributed-table' || a.kind === 'create-reference-table')
      created.set(a.table.name, i);
  });
  const known = [...created.keys()];
  const groupSteps = (group?: string): number[] =>
    actions.flatMap((a, i) =>
      (a.kind === 'register-group' || a.kind === 'update-group') && (!group || a.group === group)
        ? [i]
        : [],
    );
  let lastMove = -1;
  return actions.map((a, i) => {
    const deps = new Set<number>();
    if (install >= 0 && i > install) deps.add(install);
    for (const t of tablesOf(a, known)) {
      const c = created.get(t);
      if (c !== undefined && c < i) deps.add(c);
    }
    switch (a.kind) {
      case 'create-distributed-table':
      case 'create-reference-table':
        // Shards are placed on the groups registered in the same plan.
        for (const g of groupSteps()) if (g < i) deps.add(g);
        break;
      case 'resume-move':
      case 'move-shard':
        // Moves run one after another: each is planned on the placement the last left.
        for (const g of groupSteps()) if (g < i) deps.add(g);
        if (lastMove >= 0) deps.add(lastMove);
        lastMove = i;
        break;
      case 'remove-group':
        actions.forEach((b, j) => {
          if (
            j < i &&
            (b.kind === 'move-shard' ||
              b.kind === 'resume-move' ||
              (b.kind === 'drain-group' && b.group === a.group))
          )
            deps.add(j);
        });
        break;
      case 'ensure-group-role':
        for (const g of groupSteps(a.group)) if (g < i) deps.add(g);
        actions.forEach((b, j) => {
          if (j < i && b.kind === 'ensure-role' && b.role === a.role) deps.add(j);
        });
        break;
      case 'ensure-mcp-mapping':
        // A user mapping per worker server: the servers and the role come first.
        for (const g of groupSteps()) if (g < i) deps.add(g);
        actions.forEach((b, j) => {
          if (j < i && b.kind === 'ensure-role' && b.role === a.role) deps.add(j);
        });
        break;
      default:
        break;
    }
    return [...deps].sort((x, y) => x - y);
  });
}
