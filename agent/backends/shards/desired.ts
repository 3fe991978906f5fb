import { MIGRATIONS } from '../../engine/install.js';
import { mcpClientRoles } from '../../manifests/kinds.js';
import type {
  DistributedTableManifest,
  ManifestSet,
  McpClientManifest,
  ReferenceTableManifest,
  RoleManifest,
  VectorIndexManifest,
} from '../../manifests/types.js';
import type {
  DesiredMcpClient,
  DesiredRole,
  DesiredShards,
  DesiredTable,
  ShardsContext,
} from './types.js';

/** The engine's group names allow `[a-z0-9_]`; the manifest's are DNS names with '-'. */
export function engineGroupName(manifestName: string): string {
  return manifestName.replace(/-/g, '_');
}

/** Pure: the engine state the manifest set asks for. */
export function desiredFromManifests(set: ManifestSet, ctx: ShardsContext): DesiredShards {
  const manifests = set.documents.map((d) => d.manifest);
  const tables: DesiredTable[] = [];
  const mcp = manifests.filter((m): m is McpClientManifest => m.kind === 'McpClient');
  for (const m of manifests) {
    if (m.kind === 'DistributedTable') tables.push(distributed(m));
    if (m.kind === 'ReferenceTable') tables.push(reference(m));
  }
  return {
    engineVersion: Math.max(...MIGRATIONS.map((m) => m.version)),
    groups: set.cluster.spec.workerGroups.map((g) => ({
      name: engineGroupName(g.name),
      manifestName: g.name,
      hosts: ctx.groupHosts(g.name),
      port: ctx.workerPort ?? 5432,
      dbname: ctx.workerDatabase,
      remove: g.remove,
    })),
    tables,
    vectorIndexes: manifests
      .filter((m): m is VectorIndexManifest => m.kind === 'VectorIndex')
      .map((m) => ({
        manifestName: m.metadata.name,
        table: `${m.spec.schema}.${m.spec.table}`,
        column: m.spec.column,
        opclass: m.spec.opclass,
        m: m.spec.m,
        efConstruction: m.spec.efConstruction,
      })),
    roles: manifests
      .filter((m): m is RoleManifest => m.kind === 'Role')
      .map((m): DesiredRole => ({
        name: m.spec.name,
        preset: m.spec.preset,
        passwordSecret: m.spec.passwordSecret,
      }))
      .concat(mcp.flatMap(mcpRoles)),
    mcpClients: mcp.flatMap(mcpClients).sort((a, b) => (a.role < b.role ? -1 : 1)),
    // Policies go on the tables of schema memory spread by or holding a namespace column.
    mcpTables:
      mcp.length === 0
        ? []
        : tables
            .filter(
              (t) =>
                t.schema === 'memory' &&
                t.kind === 'distributed' &&
                t.columns.some((c) => c.name === 'namespace'),
            )
            .map((t) => t.name)
            .sort(),
  };
}

/** An McpClient's roles: its own (memory privileges as `allow` says) and `<role>_ro`. */
function mcpRoles(m: McpClientManifest): DesiredRole[] {
  const { spec } = m;
  const privileges = ['INSERT', 'SELECT'];
  if (spec.allow.update) privileges.push('UPDATE');
  if (spec.allow.delete) privileges.push('DELETE');
  const roles: DesiredRole[] = [
    {
      name: spec.role,
      preset: 'mcp-client',
      passwordSecret: spec.passwordSecret,
      memoryPrivileges: privileges.sort(),
    },
  ];
  if (spec.allow.sql) {
    roles.push({
      name: mcpClientRoles(m)[1]!,
      preset: 'mcp-sql',
      passwordSecret: spec.passwordSecret,
      memoryPrivileges: ['SELECT'],
    });
  }
  return roles;
}

function mcpClients(m: McpClientManifest): DesiredMcpClient[] {
  const { spec } = m;
  const write = [...spec.namespaces.write].sort();
  const read = [...spec.namespaces.read].sort();
  const [own, ro] = mcpClientRoles(m);
  const out: DesiredMcpClient[] = [
    { role: own!, read, write, passwordSecret: spec.passwordSecret },
  ];
  // The read-only role sees what the agent sees and writes nothing.
  if (ro) {
    out.push({
      role: ro,
      read: [...new Set([...read, ...write])].sort(),
      write: [],
      passwordSecret: spec.passwordSecret,
    });
  }
  return out;
}

function distributed(m: DistributedTableManifest): DesiredTable {
  const { spec } = m;
  return {
    kind: 'distributed',
    name: `${spec.schema}.${spec.table}`,
    schema: spec.schema,
    table: spec.table,
    columns: spec.columns,
    primaryKey: spec.primaryKey,
    distributionColumn: spec.distributionColumn,
    shardCount: spec.shardCount,
    ...(spec.colocateWith !== undefined
      ? {
          colocateWith: spec.colocateWith.includes('.')
            ? spec.colocateWith
            : `${spec.schema}.${spec.colocateWith}`,
        }
      : {}),
  };
}

function reference(m: ReferenceTableManifest): DesiredTable {
  const { spec } = m;
  return {
    kind: 'reference',
    name: `${spec.schema}.${spec.table}`,
    schema: spec.schema,
    table: spec.table,
    columns: spec.columns,
    primaryKey: spec.primaryKey,
  };
}
