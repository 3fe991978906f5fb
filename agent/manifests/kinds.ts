/**
 * The registry of manifest kinds. A new kind is one schema file in schemas/ and one entry
 * here; the loader, the validator and the docs generator read only this list.
 */
import clusterSchema from '../../schemas/cluster.schema.json' with { type: 'json' };
import distributedTableSchema from '../../schemas/distributed-table.schema.json' with { type: 'json' };
import referenceTableSchema from '../../schemas/reference-table.schema.json' with { type: 'json' };
import vectorIndexSchema from '../../schemas/vector-index.schema.json' with { type: 'json' };
import roleSchema from '../../schemas/role.schema.json' with { type: 'json' };
import patroniConfigSchema from '../../schemas/patroni-config.schema.json' with { type: 'json' };
import mcpClientSchema from '../../schemas/mcp-client.schema.json' with { type: 'json' };
import { checkPatroniConfig } from '../backends/patroni/check.js';
import { checkCluster } from './check-cluster.js';
import type {
  ColumnSpec,
  DistributedTableManifest,
  Manifest,
  McpClientManifest,
  ReferenceTableManifest,
  PatroniConfigManifest,
  RoleManifest,
  VectorIndexManifest,
} from './types.js';

/** A finding inside one document; the loader adds the file. */
export interface FieldProblem {
  /** JSON pointer into the document, e.g. `/spec/workerGroups/1/name`; '' is the whole document. */
  field: string;
  reason: string;
}

export interface KindDefinition<M extends Manifest = Manifest> {
  kind: M['kind'];
  /** The JSON Schema (draft 2020-12) of the whole document; defaults are filled from it. */
  schema: object;
  /** How many documents of this kind one manifest set holds. */
  cardinality: 'exactly-one' | 'any';
  /**
   * Checks JSON Schema cannot express, run only on a document that passed its schema (so
   * defaults are filled and the shape is M). `documents` is every schema-valid document of
   * the set, for checks that look across kinds (a table's worker group must exist, ...).
   */
  check?(manifest: M, documents: readonly Manifest[]): FieldProblem[];
}

export const KINDS: readonly KindDefinition[] = [
  { kind: 'Cluster', schema: clusterSchema, cardinality: 'exactly-one', check: checkCluster },
  kind<DistributedTableManifest>('DistributedTable', distributedTableSchema, checkDistributedTable),
  kind<ReferenceTableManifest>('ReferenceTable', referenceTableSchema, checkReferenceTable),
  kind<VectorIndexManifest>('VectorIndex', vectorIndexSchema, checkVectorIndex),
  kind<RoleManifest>('Role', roleSchema, checkRole),
  kind<PatroniConfigManifest>('PatroniConfig', patroniConfigSchema, checkPatroniConfig),
  kind<McpClientManifest>('McpClient', mcpClientSchema, checkMcpClient),
];

export function findKind(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** A kind of which a set may hold any number, with its checks. */
function kind<M extends Manifest>(
  name: M['kind'],
  schema: object,
  check: (manifest: M, documents: readonly Manifest[]) => FieldProblem[],
): KindDefinition {
  return {
    kind: name,
    schema,
    cardinality: 'any',
    check: check as (manifest: Manifest, documents: readonly Manifest[]) => FieldProblem[],
  };
}

// Checks across fields and documents for the table, index and role kinds. They run on
// schema-valid documents only (defaults filled), so names already match the identifier
// pattern; these checks are about what refers to what.

type TableManifest = DistributedTableManifest | ReferenceTableManifest;

function isTable(m: Manifest): m is TableManifest {
  return m.kind === 'DistributedTable' || m.kind === 'ReferenceTable';
}

function qualified(schema: string, table: string): string {
  return `${schema}.${table}`;
}

/** `table` or `schema.table`, resolved against a default schema. */
function resolveName(name: string, schema: string): string {
  return name.includes('.') ? name : qualified(schema, name);
}

/** The first document of the set that declares the same table as `m` (by any kind). */
function firstDeclaring(m: TableManifest, documents: readonly Manifest[]): TableManifest {
  const name = qualified(m.spec.schema, m.spec.table);
  return (
    documents.filter(isTable).find((d) => qualified(d.spec.schema, d.spec.table) === name) ?? m
  );
}

function checkColumns(m: TableManifest): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  m.spec.columns.forEach((c: ColumnSpec, i) => {
    if (seen.has(c.name)) {
      problems.push({
        field: `/spec/columns/${i}/name`,
        reason: `duplicate column "${c.name}"; column names must be unique`,
      });
    }
    seen.add(c.name);
    if (c.defaultValue !== undefined && c.defaultFunction !== undefined) {
      problems.push({
        field: `/spec/columns/${i}`,
        reason: 'set either defaultValue or defaultFunction, not both',
      });
    }
  });
  m.spec.primaryKey.forEach((k, i) => {
    if (!seen.has(k)) {
      problems.push({
        field: `/spec/primaryKey/${i}`,
        reason: `primary key column "${k}" is not one of the table's columns (${[...seen].join(', ')})`,
      });
    }
  });
  return problems;
}

function checkDuplicateTable(m: TableManifest, documents: readonly Manifest[]): FieldProblem[] {
  const first = firstDeclaring(m, documents);
  if (first === m) return [];
  return [
    {
      field: '/spec/table',
      reason: `table ${qualified(m.spec.schema, m.spec.table)} is already declared by ${first.kind} "${first.metadata.name}"; a table is declared once`,
    },
  ];
}

export function checkDistributedTable(
  m: DistributedTableManifest,
  documents: readonly Manifest[],
): FieldProblem[] {
  const problems = [...checkColumns(m), ...checkDuplicateTable(m, documents)];
  const { spec } = m;
  const columns = spec.columns.map((c) => c.name);
  const distColumn = spec.columns.find((c) => c.name === spec.distributionColumn);
  if (!distColumn) {
    problems.push({
      field: '/spec/distributionColumn',
      reason: `distribution column "${spec.distributionColumn}" does not exist in the table's columns (${columns.join(', ')})`,
    });
  } else if (spec.primaryKey.length > 0 && !spec.primaryKey.includes(spec.distributionColumn)) {
    problems.push({
      field: '/spec/primaryKey',
      reason: `the primary key must include the distribution column "${spec.distributionColumn}" (a shard can only enforce uniqueness of its own rows)`,
    });
  }
  if (spec.colocateWith !== undefined) {
    const target = resolveName(spec.colocateWith, spec.schema);
    const other = documents.find(
      (d): d is DistributedTableManifest =>
        d.kind === 'DistributedTable' && qualified(d.spec.schema, d.spec.table) === target,
    );
    if (target === qualified(spec.schema, spec.table)) {
      problems.push({ field: '/spec/colocateWith', reason: 'a table cannot co-locate with itself' });
    } else if (!other) {
      problems.push({
        field: '/spec/colocateWith',
        reason: `colocateWith names ${target}, which is not a DistributedTable of this set`,
      });
    } else {
      if (other.spec.shardCount !== spec.shardCount) {
        problems.push({
          field: '/spec/shardCount',
          reason: `co-located tables share their shards: ${target} has shardCount ${other.spec.shardCount}, this table ${spec.shardCount}`,
        });
      }
      const otherType = other.spec.columns.find((c) => c.name === other.spec.distributionColumn);
      if (distColumn && otherType && otherType.type !== distColumn.type) {
        problems.push({
          field: '/spec/distributionColumn',
          reason: `co-located tables hash the same type: ${target}.${other.spec.distributionColumn} is ${otherType.type}, ${spec.distributionColumn} is ${distColumn.type}`,
        });
      }
    }
  }
  return problems;
}

export function checkReferenceTable(
  m: ReferenceTableManifest,
  documents: readonly Manifest[],
): FieldProblem[] {
  return [...checkColumns(m), ...checkDuplicateTable(m, documents)];
}

export function checkVectorIndex(
  m: VectorIndexManifest,
  documents: readonly Manifest[],
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { spec } = m;
  const name = qualified(spec.schema, spec.table);
  const table = documents.filter(isTable).find((d) => qualified(d.spec.schema, d.spec.table) === name);
  if (!table) {
    problems.push({
      field: '/spec/table',
      reason: `table ${name} is not declared by a DistributedTable or ReferenceTable of this set`,
    });
  } else {
    const column = table.spec.columns.find((c) => c.name === spec.column);
    if (!column) {
      problems.push({
        field: '/spec/column',
        reason: `column "${spec.column}" does not exist in ${name} (${table.spec.columns.map((c) => c.name).join(', ')})`,
      });
    } else if (!/^vector\(\d+\)$/.test(column.type)) {
      problems.push({
        field: '/spec/column',
        reason: `column "${spec.column}" of ${name} is ${column.type}, not a vector(n) column`,
      });
    }
  }
  if (spec.efConstruction < 2 * spec.m) {
    problems.push({
      field: '/spec/efConstruction',
      reason: `must be at least 2 × m = ${2 * spec.m} (pgvector's rule), got ${spec.efConstruction}`,
    });
  }
  const first = documents.find(
    (d): d is VectorIndexManifest =>
      d.kind === 'VectorIndex' &&
      qualified(d.spec.schema, d.spec.table) === name &&
      d.spec.column === spec.column,
  );
  if (first && first !== m) {
    problems.push({
      field: '/spec/column',
      reason: `${name}.${spec.column} already has a VectorIndex ("${first.metadata.name}"); one per column`,
    });
  }
  return problems;
}

const RESERVED_ROLES = new Set(['postgres', 'public', 'none', 'current_user', 'session_user']);

export function checkRole(m: RoleManifest, documents: readonly Manifest[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { name } = m.spec;
  if (RESERVED_ROLES.has(name) || name.startsWith('pg_')) {
    problems.push({
      field: '/spec/name',
      reason: `role name "${name}" is reserved by PostgreSQL or pgmesh`,
    });
  }
  const first = documents.find(
    (d): d is RoleManifest => d.kind === 'Role' && d.spec.name === name,
  );
  if (first && first !== m) {
    problems.push({
      field: '/spec/name',
      reason: `role "${name}" is already declared by Role "${first.metadata.name}"`,
    });
  }
  return problems;
}

/** The roles an McpClient takes: its own and, with `allow.sql`, `<role>_ro`. */
export function mcpClientRoles(m: McpClientManifest): string[] {
  return m.spec.allow.sql ? [m.spec.role, `${m.spec.role}_ro`] : [m.spec.role];
}

export function checkMcpClient(m: McpClientManifest, documents: readonly Manifest[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { role, namespaces } = m.spec;
  if (RESERVED_ROLES.has(role) || role.startsWith('pg_') || role.startsWith('pgmesh')) {
    problems.push({
      field: '/spec/role',
      reason: `role name "${role}" is reserved by PostgreSQL or pgmesh`,
    });
  }
  const mine = new Set(mcpClientRoles(m));
  const roleDoc = documents.find(
    (d): d is RoleManifest => d.kind === 'Role' && mine.has(d.spec.name),
  );
  if (roleDoc) {
    problems.push({
      field: '/spec/role',
      reason: `role "${roleDoc.spec.name}" is already declared by Role "${roleDoc.metadata.name}"; an MCP client has a role of its own`,
    });
  }
  const other = documents.find(
    (d): d is McpClientManifest =>
      d.kind === 'McpClient' && d !== m && mcpClientRoles(d).some((r) => mine.has(r)),
  );
  if (other && documents.indexOf(other) < documents.indexOf(m)) {
    problems.push({
      field: '/spec/role',
      reason: `role "${role}" (or its _ro role) is already taken by McpClient "${other.metadata.name}"`,
    });
  }
  const twice = namespaces.read.filter((n) => namespaces.write.includes(n));
  if (twice.length > 0) {
    problems.push({
      field: '/spec/namespaces/read',
      reason: `${twice.join(', ')} also in write (write implies read); list a namespace once`,
    });
  }
  return problems;
}
