/**
 * The definition of a table as its catalog shows it, normalised so a shard
 * (pgmesh_shards.<schema>_<table>_<n> on a worker) and its coordinator table compare
 * equal when they agree: columns (name, type, NOT NULL, default), constraints (CHECK by
 * name, PRIMARY KEY / UNIQUE by definition, FOREIGN KEY by name and columns; the
 * coordinator's foreign keys of distributed tables come from pgmesh.foreign_keys) with
 * their validity, and the indexes that back no constraint (by form: unique?, text after
 * USING). Index validity is checked on shards (all valid); the coordinator's parent-only
 * indexes of a distributed table are invalid by construction.
 */
import type pg from 'pg';

export interface TableCatalog {
  columns: [string, string, boolean, string | null][];
  constraints: [string, string, boolean][];
  indexes: [boolean, string][];
}

function normaliseDef(def: string): string {
  return def.replace(/ NOT VALID$/, '').replace(/ REFERENCES [^(]+\(/, ' REFERENCES ?(');
}

async function catalogOf(
  c: pg.Client,
  table: string,
  withEngineKeys: boolean,
): Promise<TableCatalog> {
  const cols = await c.query<{ name: string; type: string; notnull: boolean; def: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_get_expr(d.adbin, d.adrelid) AS def
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  );
  const cons = await c.query<{ type: string; name: string; def: string; valid: boolean }>(
    `SELECT contype AS type, conname AS name, pg_get_constraintdef(oid) AS def, convalidated AS valid
       FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('c', 'p', 'u', 'f')`,
    [table],
  );
  const constraints: [string, string, boolean][] = cons.rows.map((r) => [
    r.type,
    r.type === 'c' || r.type === 'f' ? `${r.name} ${normaliseDef(r.def)}` : normaliseDef(r.def),
    r.valid,
  ]);
  if (withEngineKeys) {
    const fks = await c.query<{ name: string; def: string; valid: boolean }>(
      `SELECT constraint_name AS name, definition AS def, validated AS valid
         FROM pgmesh.table_constraints WHERE table_name = $1::regclass AND source = 'pgmesh.foreign_keys'`,
      [table],
    );
    for (const r of fks.rows) constraints.push(['f', `${r.name} ${normaliseDef(r.def)}`, r.valid]);
  }
  constraints.sort((a, b) => (a.join('|') < b.join('|') ? -1 : 1));
  const idx = await c.query<{ unique: boolean; def: string }>(
    `SELECT i.indisunique AS unique, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
      WHERE i.indrelid = $1::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)`,
    [table],
  );
  const indexes: [boolean, string][] = idx.rows
    .map((r): [boolean, string] => [
      r.unique,
      r.def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ USING /, ''),
    ])
    .sort((a, b) => (a.join('|') < b.join('|') ? -1 : 1));
  return {
    columns: cols.rows.map((r) => [r.name, r.type, r.notnull, r.def]),
    constraints,
    indexes,
  };
}

export function coordinatorCatalog(c: pg.Client, table: string): Promise<TableCatalog> {
  return catalogOf(c, table, true);
}

/** A shard's catalog; fails if one of its indexes is not valid. */
export async function shardCatalog(worker: pg.Client, shard: string): Promise<TableCatalog> {
  const qualified = `pgmesh_shards."${shard.replace(/"/g, '""')}"`;
  const invalid = await worker.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_index WHERE indrelid = $1::regclass AND NOT indisvalid',
    [qualified],
  );
  if ((invalid.rows[0]?.n ?? 0) > 0) throw new Error(`shard ${shard} has an invalid index`);
  return catalogOf(worker, qualified, false);
}

/** (group, shard table) of every shard of a distributed table or copy of a reference table. */
export async function shardsOf(
  coord: pg.Client,
  table: string,
): Promise<{ group: string; shard: string }[]> {
  const r = await coord.query<{ group: string; shard: string }>(
    'SELECT group_name AS group, shard_table AS shard FROM pgmesh._ddl_targets($1::regclass)',
    [table],
  );
  return r.rows;
}
