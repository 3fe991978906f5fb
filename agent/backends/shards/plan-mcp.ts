/**
 * Pure: the MCP clients' row-level security (engine migration 015) and their user
 * mappings to the worker groups. The policies are synced as a whole when the clients or
 * tables the last sync recorded differ from the manifests, or when a table (a parent or a
 * shard a move created) lacks them; this step comes before the roles, so a client role
 * has its policies on every table before it gets LOGIN and GRANTs. The user mappings come
 * after the roles: one per worker group, set again when the role's password is.
 */
import type { DesiredShards, DriftLike, LiveShards, ShardsAction } from './types.js';

export interface McpPlan {
  /** Before the roles. */
  policies: ShardsAction[];
  /** After the roles. */
  mappings: ShardsAction[];
  drift: DriftLike[];
}

const MCP_ENGINE_VERSION = 15;

export function planMcp(
  desired: DesiredShards,
  live: LiveShards,
  rolePasswordsSet: ReadonlySet<string>,
): McpPlan {
  const out: McpPlan = { policies: [], mappings: [], drift: [] };
  const liveMcp = live.mcp;
  if (desired.mcpClients.length === 0 && (liveMcp?.clients.length ?? 0) === 0) return out;
  const tables = desired.mcpTables.filter((t) =>
    live.tables.some((x) => x.name === t && x.kind === 'distributed'),
  );
  const wanted = desired.mcpClients.map(({ role, read, write }) => ({ role, read, write }));
  const fresh = live.engineVersion < MCP_ENGINE_VERSION || !liveMcp;
  const liveClients = (liveMcp?.clients ?? []).map(({ role, read, write }) => ({
    role,
    read: [...read].sort(),
    write: [...write].sort(),
  }));
  const liveTables = [...new Set((liveMcp?.clients ?? []).flatMap((c) => c.tables))].sort();
  const differences: Array<{ field: string; desired: unknown; live: unknown }> = [];
  let reason: 'clients' | 'tables' | 'policies' | null = null;
  if (fresh || JSON.stringify(liveClients) !== JSON.stringify(wanted)) {
    differences.push({ field: 'clients', desired: wanted, live: liveClients });
    reason = 'clients';
  }
  if (wanted.length > 0 && JSON.stringify(liveTables) !== JSON.stringify(tables)) {
    differences.push({ field: 'tables', desired: tables, live: liveTables });
    reason ??= 'tables';
  }
  if ((liveMcp?.problems.length ?? 0) > 0) {
    differences.push({ field: 'policies', desired: 'on every table', live: liveMcp?.problems });
    reason ??= 'policies';
  }
  // Nothing to put policies on yet (tables created in this plan): the next cycle does it.
  const blocked = tables.length === 0 && wanted.length > 0;
  out.drift.push({
    resource: 'mcp/policies',
    state: blocked ? 'blocked' : reason ? 'drifted' : 'in-sync',
    differences,
    ...(blocked ? { reason: 'the memory tables are not distributed yet' } : {}),
  });
  if (reason && !blocked) {
    out.policies.push({ kind: 'sync-mcp-policies', clients: wanted, tables, reason });
  }

  const servers = live.groups.map((g) => `pgmesh_${g.name}`).sort();
  for (const c of desired.mcpClients) {
    const have = new Set(liveMcp?.mappings[c.role] ?? []);
    const password = rolePasswordsSet.has(c.role);
    const missing = password ? servers : servers.filter((s) => !have.has(s));
    out.drift.push({
      resource: `mcp/mapping/${c.role}`,
      state: missing.length ? 'drifted' : 'in-sync',
      differences: missing.length
        ? [{ field: 'userMappings', desired: servers, live: [...have].sort() }]
        : [],
    });
    if (missing.length > 0) {
      out.mappings.push({
        kind: 'ensure-mcp-mapping',
        role: c.role,
        passwordSecret: c.passwordSecret,
        servers: missing,
        reason: password ? 'password' : 'missing',
      });
    }
  }
  return out;
}
