/**
 * Pure: roles of the `Role` documents, on the coordinator and on every worker group's
 * primary. On the coordinator a role gets its preset's privileges on the declared tables
 * and their schemas; on a worker group the same role (same LOGIN/CREATEROLE, the
 * coordinator's SCRAM verifier) gets the same preset's privileges on the group's shard
 * tables (schema `pgmesh_shards`), so a client that connects to a worker directly can do
 * no more than through the coordinator. Privileges are applied exactly.
 */
import { presetSchemaPrivileges, roleTablePrivileges, shardTableName, splitName } from './sql.js';
import type { DesiredRole, DesiredShards, DriftLike, LiveShards, ShardsAction } from './types.js';

export interface RolePlan {
  actions: ShardsAction[];
  drift: DriftLike[];
}

type Difference = { field: string; desired: unknown; live: unknown };

export function planRoles(desired: DesiredShards, live: LiveShards): RolePlan {
  const out: RolePlan = { actions: [], drift: [] };
  const coordinator = new Map<string, Extract<ShardsAction, { kind: 'ensure-role' }>>();
  for (const r of desired.roles) {
    const a = planCoordinatorRole(r, desired, live, out);
    if (a) coordinator.set(r.name, a);
  }
  for (const g of desired.groups) {
    const current = live.groups.find((x) => x.name === g.name);
    if (!current || !current.reachable) continue; // registered later / reported as unreachable
    for (const r of desired.roles) {
      planGroupRole(r, g.name, desired, live, coordinator.get(r.name), out);
    }
  }
  return out;
}

function planCoordinatorRole(
  r: DesiredRole,
  desired: DesiredShards,
  live: LiveShards,
  out: RolePlan,
): Extract<ShardsAction, { kind: 'ensure-role' }> | null {
  const managedTables = desired.tables.map((t) => t.name);
  const managedSchemas = [...new Set(managedTables.map((t) => splitName(t)[0]))].sort();
  const current = live.roles.find((x) => x.name === r.name);
  const tablePrivileges = Object.fromEntries(
    managedTables.map((t) => [t, roleTablePrivileges(r, t)]),
  );
  const schemaPrivileges = Object.fromEntries(
    managedSchemas.map((s) => [s, presetSchemaPrivileges(r.preset)]),
  );
  const createRole = r.preset === 'admin';
  const changes: string[] = [];
  const differences: Difference[] = [];
  if (!current) {
    changes.push('create');
    differences.push({ field: 'exists', desired: true, live: false });
  } else {
    if (!current.canLogin) differences.push({ field: 'login', desired: true, live: false });
    if (current.createRole !== createRole)
      differences.push({ field: 'createRole', desired: createRole, live: current.createRole });
    if (current.passwordSecret !== r.passwordSecret) {
      differences.push({
        field: 'passwordSecret',
        desired: r.passwordSecret,
        live: current.passwordSecret,
      });
    } else if (current.passwordInSync === false) {
      differences.push({
        field: 'password',
        desired: `from secret ${r.passwordSecret}`,
        live: 'differs',
      });
    }
    const liveTables = Object.fromEntries(
      managedTables.map((t) => [t, current.tablePrivileges[t] ?? []]),
    );
    if (JSON.stringify(liveTables) !== JSON.stringify(tablePrivileges)) {
      differences.push({ field: 'tablePrivileges', desired: tablePrivileges, live: liveTables });
    }
    const liveSchemas = Object.fromEntries(
      managedSchemas.map((s) => [s, current.schemaPrivileges[s] ?? []]),
    );
    if (JSON.stringify(liveSchemas) !== JSON.stringify(schemaPrivileges)) {
      differences.push({ field: 'schemaPrivileges', desired: schemaPrivileges, live: liveSchemas });
    }
    changes.push(...differences.map((d) => d.field));
  }
  out.drift.push({
    resource: `role/${r.name}`,
    state: differences.length ? 'drifted' : 'in-sync',
    differences,
  });
  if (differences.length === 0) return null;
  const action: Extract<ShardsAction, { kind: 'ensure-role' }> = {
    kind: 'ensure-role',
    role: r.name,
    preset: r.preset,
    create: !current,
    setPassword:
      !current || differences.some((d) => d.field === 'password' || d.field === 'passwordSecret'),
    passwordSecret: r.passwordSecret,
    tablePrivileges,
    schemaPrivileges,
    createRole,
    changes,
  };
  out.actions.push(action);
  return action;
}

/** The preset's privileges on the shard tables a group holds of the declared tables. */
export function groupTablePrivileges(
  r: DesiredRole,
  group: string,
  desired: DesiredShards,
  live: LiveShards,
): Record<string, string[]> {
  const present = new Set(live.groups.find((g) => g.name === group)?.tables ?? []);
  const out: Record<string, string[]> = {};
  for (const t of desired.tables) {
    const shardTables =
      t.kind === 'distributed'
        ? live.shards
            .filter((s) => s.table === t.name && s.group === group)
            .map((s) => s.shardTable)
        : [shardTableName(t.name, 0)];
    for (const s of shardTables) {
      if (present.has(s)) out[s] = roleTablePrivileges(r, t.name);
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function planGroupRole(
  r: DesiredRole,
  group: string,
  desired: DesiredShards,
  live: LiveShards,
  onCoordinator: Extract<ShardsAction, { kind: 'ensure-role' }> | undefined,
  out: RolePlan,
): void {
  const resource = `role/${r.name}@${group}`;
  const g = live.groups.find((x) => x.name === group);
  if (!g?.roles) {
    out.drift.push({
      resource,
      state: 'blocked',
      differences: [],
      reason: `the roles of worker group ${group} could not be read from the coordinator${g?.rolesError ? `: ${g.rolesError}` : ''}`,
    });
    return;
  }
  const current = g.roles.find((x) => x.name === r.name);
  const tablePrivileges = groupTablePrivileges(r, group, desired, live);
  const schemaPrivileges = ['USAGE'];
  const createRole = r.preset === 'admin';
  const differences: Difference[] = [];
  if (!current) {
    differences.push({ field: 'exists', desired: true, live: false });
  } else {
    if (!current.canLogin) differences.push({ field: 'login', desired: true, live: false });
    if (current.createRole !== createRole)
      differences.push({ field: 'createRole', desired: createRole, live: current.createRole });
    if (current.sameVerifier === false) {
      differences.push({ field: 'password', desired: 'as on the coordinator', live: 'differs' });
    }
    const liveTables = Object.fromEntries(
      Object.keys(tablePrivileges).map((t) => [t, current.tablePrivileges[t] ?? []]),
    );
    if (JSON.stringify(liveTables) !== JSON.stringify(tablePrivileges)) {
      differences.push({ field: 'tablePrivileges', desired: tablePrivileges, live: liveTables });
    }
    if (JSON.stringify(current.schemaPrivileges) !== JSON.stringify(schemaPrivileges)) {
      differences.push({
        field: 'schemaPrivileges',
        desired: { pgmesh_shards: schemaPrivileges },
        live: { pgmesh_shards: current.schemaPrivileges },
      });
    }
  }
  // A password set on the coordinator in this plan is copied in the same cycle.
  const passwordChanges = onCoordinator?.setPassword === true;
  if (passwordChanges && current && !differences.some((d) => d.field === 'password')) {
    differences.push({
      field: 'password',
      desired: 'as on the coordinator',
      live: 'set again on the coordinator in this plan',
    });
  }
  out.drift.push({
    resource,
    state: differences.length ? 'drifted' : 'in-sync',
    differences,
  });
  if (differences.length === 0) return;
  const changes = differences.map((d) => d.field);
  out.actions.push({
    kind: 'ensure-group-role',
    group,
    role: r.name,
    preset: r.preset,
    create: !current,
    setPassword: !current || passwordChanges || current.sameVerifier === false,
    createRole,
    tablePrivileges,
    schemaPrivileges,
    changes: current ? changes : ['create'],
  });
}
