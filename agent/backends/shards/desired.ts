import { MIGRATIONS } from '../../engine/install.js';
import type {
  DistributedTableManifest,
  ManifestSet,
  ReferenceTableManifest,
  RoleManifest,
  VectorIndexManifest,
} from '../../manifests/types.js';
import type { DesiredShards, DesiredTable, ShardsContext } from './types.js';

/** The engine's group names allow `[a-z0-9_]`; the manifest's are DNS names with '-'. */
export function engineGroupName(manifestName: string): string {
  return manifestName.replace(/-/g, '_');
}

/** Pure: the engine state the manifest set asks for. */
export function desiredFromManifests(set: ManifestSet, ctx: ShardsContext): DesiredShards {
  const manifests = set.documents.map((d) => d.manifest);
  const tables: DesiredTable[] = [];
  for (const m of manifests) {
    if (m.kind === 'DistributedTable') tables.push(distributed(m));
    if (m.kind === 'ReferenceTable') tables.push(reference(m));
  }
  return {
    engineVersion: Math.max(...MIGRATIONS.map((m) => m.version)),
    groups: set.cluster.spec.workerGroups.map((g, index) => ({
      name: engineGroupName(g.name),
      manifestName: g.name,
      hosts: ctx.groupHosts(g.name),
      port: ctx.groupPort?.(g.name, index) ?? ctx.workerPort ?? 5432,
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
      .map((m) => ({
        name: m.spec.name,
        preset: m.spec.preset,
        passwordSecret: m.spec.passwordSecret,
      })),
  };
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
