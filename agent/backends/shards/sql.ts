/**
 * Pure SQL building blocks. Identifiers reach here already checked against the schemas'
 * `^[a-z_][a-z0-9_]{0,62}$`, and are quoted anyway; values are literals quoted by
 * node-postgres' escapeLiteral or query parameters; column types come from the schema's
 * fixed list. Nothing here is free SQL from a manifest.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { ColumnSpec, VectorOpclass } from '../../manifests/types.js';
import type { DesiredRole, DesiredTable, RolePrivilegePreset } from './types.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Quotes an identifier, refusing anything that is not a plain name (defence in depth). */
export function ident(name: string): string {
  if (!IDENT.test(name))
    throw new Error(`pgmesh: identifier ${JSON.stringify(name)} is not allowed`);
  return pg.escapeIdentifier(name);
}

/** `schema.table` → `"schema"."table"`. */
export function qualifiedIdent(name: string): string {
  const [schema, table] = splitName(name);
  return `${ident(schema)}.${ident(table)}`;
}

export function splitName(name: string): [string, string] {
  const i = name.indexOf('.');
  return i < 0 ? ['public', name] : [name.slice(0, i), name.slice(i + 1)];
}

const TYPE_NAMES: Record<string, string> = {
  bool: 'boolean',
  int2: 'smallint',
  int: 'integer',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  timestamptz: 'timestamp with time zone',
  timestamp: 'timestamp without time zone',
};

/** A manifest column type in PostgreSQL's format_type() spelling, for comparisons. */
export function canonicalType(type: string): string {
  const array = type.endsWith('[]');
  const base = array ? type.slice(0, -2) : type;
  const varchar = /^varchar\((\d+)\)$/.exec(base);
  const canonical = varchar ? `character varying(${varchar[1]})` : (TYPE_NAMES[base] ?? base);
  return array ? `${canonical}[]` : canonical;
}

/** Types are restricted by the schema; this guard keeps the builder safe on its own. */
const TYPE_PATTERN =
  /^(text|uuid|jsonb|json|boolean|bool|smallint|int2|integer|int|int4|bigint|int8|real|float4|double precision|float8|numeric|date|timestamptz|timestamp|bytea|vector\([1-9][0-9]{0,4}\)|varchar\([1-9][0-9]{0,4}\)|numeric\([1-9][0-9]{0,2}(,[0-9]{1,3})?\))(\[\])?$/;

export function columnSql(c: ColumnSpec): string {
  if (!TYPE_PATTERN.test(c.type))
    throw new Error(`pgmesh: column type ${JSON.stringify(c.type)} is not allowed`);
  let sql = `${ident(c.name)} ${c.type}`;
  if (c.notNull) sql += ' NOT NULL';
  if (c.defaultFunction === 'now()') sql += ' DEFAULT now()';
  else if (c.defaultFunction === 'gen_random_uuid()') sql += ' DEFAULT gen_random_uuid()';
  else if (c.defaultValue !== undefined) {
    sql += ` DEFAULT ${pg.escapeLiteral(String(c.defaultValue))}::${c.type}`;
  }
  return sql;
}

/** `CREATE TABLE IF NOT EXISTS` for a table of the manifests. */
export function createTableSql(t: DesiredTable): string {
  const parts = t.columns.map(columnSql);
  if (t.primaryKey.length > 0) parts.push(`PRIMARY KEY (${t.primaryKey.map(ident).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${qualifiedIdent(t.name)} (${parts.join(', ')})`;
}

/** The engine's shard table name (pgmesh._shard_name): left(schema_table, 50)_remainder. */
export function shardTableName(table: string, remainder: number): string {
  const [schema, name] = splitName(table);
  return `${`${schema}_${name}`.slice(0, 50)}_${remainder}`;
}

export interface HnswParams {
  column: string;
  opclass: VectorOpclass | string;
  m: number;
  efConstruction: number;
}

/**
 * Index name suffix: the column and a hash of the parameters, so that new parameters give
 * a new name (the new index is built beside the old one, then the old one is dropped).
 */
export function indexSuffix(p: HnswParams): string {
  const hash = createHash('sha256')
    .update(`${p.column}|hnsw|${p.opclass}|${p.m}|${p.efConstruction}`)
    .digest('hex')
    .slice(0, 8);
  return `${p.column.slice(0, 20)}_hnsw_${hash}`;
}

/** The engine command template for one shard (`%1$s` quoted shard, `%2$s` its bare name). */
export function indexTemplate(p: HnswParams): string {
  return (
    `CREATE INDEX CONCURRENTLY IF NOT EXISTS %2$s_${indexSuffix(p)} ON %1$s USING hnsw ` +
    `(${ident(p.column)} ${opclass(p.opclass)}) WITH (m = ${int(p.m)}, ef_construction = ${int(p.efConstruction)})`
  );
}

/** A template with the shard filled in, as pgmesh.run_on_shards does with format(). */
export function fillTemplate(template: string, shardTable: string): string {
  if (!/^[a-z0-9_]+$/.test(shardTable))
    throw new Error(`pgmesh: shard name ${shardTable} is not allowed`);
  return template
    .replaceAll('%1$s', `pgmesh_shards.${pg.escapeIdentifier(shardTable)}`)
    .replaceAll('%2$s', shardTable);
}

export function dropIndexSql(name: string): string {
  return `DROP INDEX CONCURRENTLY IF EXISTS pgmesh_shards.${pg.escapeIdentifier(name)}`;
}

/**
 * The HNSW index a remembered engine command builds, or null when it builds something
 * else. Reads both the agent's templates and the engine's own (create_memory_schema).
 */
export function parseHnswCommand(command: string): HnswParams | null {
  const m =
    /USING hnsw \(("?)([a-z_][a-z0-9_]*)\1 ([a-z_]+)\)(?: WITH \(m = (\d+), ef_construction = (\d+)\))?/.exec(
      command,
    );
  if (!m) return null;
  return {
    column: m[2]!,
    opclass: m[3]!,
    m: m[4] ? Number(m[4]) : 16,
    efConstruction: m[5] ? Number(m[5]) : 64,
  };
}

/** `{m=24,ef_construction=80}` → values, with pgvector's defaults for HNSW. */
export function hnswOptions(reloptions: string[] | null): { m: number; efConstruction: number } {
  const get = (key: string): number | undefined => {
    const found = (reloptions ?? []).find((o) => o.startsWith(`${key}=`));
    return found ? Number(found.slice(key.length + 1)) : undefined;
  };
  return { m: get('m') ?? 16, efConstruction: get('ef_construction') ?? 64 };
}

function opclass(o: string): string {
  if (o !== 'vector_cosine_ops' && o !== 'vector_l2_ops' && o !== 'vector_ip_ops') {
    throw new Error(`pgmesh: operator class ${o} is not allowed`);
  }
  return o;
}

function int(n: number): string {
  if (!Number.isInteger(n)) throw new Error(`pgmesh: ${n} is not an integer`);
  return String(n);
}

/** Table privileges of a preset on one table. `memory` is the built-in memory schema. */
export function presetTablePrivileges(preset: RolePrivilegePreset, table: string): string[] {
  switch (preset) {
    case 'mcp-client':
      return splitName(table)[0] === 'memory' ? ['INSERT', 'SELECT'] : [];
    case 'mcp-sql':
      return splitName(table)[0] === 'memory' ? ['SELECT'] : [];
    case 'admin':
      return ['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', 'TRUNCATE', 'UPDATE'];
    case 'app':
      return ['DELETE', 'INSERT', 'SELECT', 'UPDATE'];
    case 'readonly':
      return ['SELECT'];
    case 'mcp':
      return splitName(table)[0] === 'memory' ? ['INSERT', 'SELECT'] : ['SELECT'];
  }
}

/**
 * A role's privileges on one table: its preset's, or for an MCP client role the ones its
 * McpClient allows on schema `memory` and none elsewhere.
 */
export function roleTablePrivileges(r: DesiredRole, table: string): string[] {
  if (r.memoryPrivileges) return splitName(table)[0] === 'memory' ? r.memoryPrivileges : [];
  return presetTablePrivileges(r.preset, table);
}

export function presetSchemaPrivileges(preset: RolePrivilegePreset): string[] {
  return preset === 'admin' ? ['CREATE', 'USAGE'] : ['USAGE'];
}
