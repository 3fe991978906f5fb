/**
 * The memory store's statements, as the agent's own role: fixed SQL text with every
 * value a parameter, so no input can add a statement. Routed by namespace where the
 * table is spread by namespace (one shard), fanned out as a top-k otherwise.
 */
import type pg from 'pg';
import { McpInputError } from '../core/errors.js';
import { vectorLiteral } from './limits.js';

export type MemoryTable = 'memory_entries' | 'patterns' | 'graph_nodes' | 'trajectories';
export const MEMORY_TABLES: readonly MemoryTable[] = [
  'memory_entries',
  'patterns',
  'graph_nodes',
  'trajectories',
];

export type Distance = 'cosine' | 'l2' | 'inner_product';
const OPERATORS: Record<Distance, string> = { cosine: '<=>', l2: '<->', inner_product: '<#>' };

/** The `kind` of graph_nodes rows that are edges (see docs/mcp.md). */
export const EDGE_KIND = 'pgmesh:edge';

export type Queryable = Pick<pg.Pool, 'query'>;

/** `vector(n)` of each memory table's embedding column, from the catalog. */
export async function embeddingDims(db: Queryable): Promise<Record<MemoryTable, number>> {
  const r = await db.query<{ t: MemoryTable; dims: number }>(
    `SELECT c.relname AS t, a.atttypmod AS dims FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'memory' AND c.relname = ANY ($1) AND a.attname = 'embedding' AND NOT a.attisdropped`,
    [MEMORY_TABLES],
  );
  const out = {} as Record<MemoryTable, number>;
  for (const row of r.rows) out[row.t] = row.dims;
  for (const t of MEMORY_TABLES) {
    if (!(t in out))
      throw new McpInputError(`memory.${t} has no embedding column the role can see`);
  }
  return out;
}

const vec = (v: readonly number[] | undefined | null): string | null =>
  v ? vectorLiteral(v) : null;
const json = (v: unknown): string | null =>
  v === undefined || v === null ? null : JSON.stringify(v);

const MEMORY_COLUMNS = 'id, namespace, key, content, metadata, created_at, updated_at';

export interface MemoryInput {
  namespace: string;
  key?: string | undefined;
  content: string;
  metadata?: Record<string, unknown> | undefined;
  embedding?: number[] | undefined;
}

export async function storeMemory(db: Queryable, m: MemoryInput): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO memory.memory_entries (namespace, key, content, metadata, embedding)
     VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'), $5::vector) RETURNING id`,
    [m.namespace, m.key ?? null, m.content, json(m.metadata), vec(m.embedding)],
  );
  return r.rows[0]!.id;
}

export async function getMemory(
  db: Queryable,
  namespace: string,
  by: { id?: string | undefined; key?: string | undefined },
  limit: number,
): Promise<Record<string, unknown>[]> {
  const r = by.id
    ? await db.query(
        `SELECT ${MEMORY_COLUMNS} FROM memory.memory_entries WHERE namespace = $1 AND id = $2`,
        [namespace, by.id],
      )
    : await db.query(
        `SELECT ${MEMORY_COLUMNS} FROM memory.memory_entries WHERE namespace = $1 AND key = $2
          ORDER BY updated_at DESC LIMIT $3`,
        [namespace, by.key, limit],
      );
  return r.rows;
}

export async function updateMemory(
  db: Queryable,
  namespace: string,
  id: string,
  change: {
    content?: string | undefined;
    metadata?: Record<string, unknown> | undefined;
    embedding?: number[] | undefined;
  },
): Promise<number> {
  const r = await db.query(
    `UPDATE memory.memory_entries
        SET content = coalesce($3, content), metadata = coalesce($4::jsonb, metadata),
            embedding = coalesce($5::vector, embedding), updated_at = now()
      WHERE namespace = $1 AND id = $2`,
    [namespace, id, change.content ?? null, json(change.metadata), vec(change.embedding)],
  );
  return r.rowCount ?? 0;
}

export async function deleteMemory(db: Queryable, namespace: string, id: string): Promise<number> {
  const r = await db.query('DELETE FROM memory.memory_entries WHERE namespace = $1 AND id = $2', [
    namespace,
    id,
  ]);
  return r.rowCount ?? 0;
}

export interface SearchInput {
  table: 'memory_entries' | 'patterns' | 'graph_nodes';
  /** One namespace (routed to its shard) or several (fanned out). */
  namespaces: readonly string[];
  embedding: readonly number[];
  k: number;
  distance: Distance;
  /** `metadata @> filter` (jsonb containment). */
  filter?: Record<string, unknown> | undefined;
  /** patterns only. */
  patternType?: string | undefined;
  minConfidence?: number | undefined;
}

const SEARCH_COLUMNS: Record<SearchInput['table'], string> = {
  memory_entries: MEMORY_COLUMNS,
  patterns:
    'id, namespace, name, description, pattern_type, confidence, usage_count, metadata, created_at',
  graph_nodes: 'id, namespace, label, kind, properties, created_at',
};

/**
 * The statement of a search, exported so that tests and the benchmark run the very same
 * SQL directly. `WHERE namespace = $1` when one namespace (the planner hook routes it),
 * `= ANY($1)` otherwise; ORDER BY the distance, LIMIT k (a top-k per shard).
 */
export function searchSql(s: SearchInput): { text: string; values: unknown[] } {
  const op = OPERATORS[s.distance];
  const values: unknown[] = [
    s.namespaces.length === 1 ? s.namespaces[0] : [...s.namespaces],
    vectorLiteral(s.embedding),
  ];
  // A literal LIMIT: the planner hook's top-k fan-out needs a constant (it sees a
  // parameter before it is bound). k is an integer checked by the tool's schema.
  if (!Number.isInteger(s.k) || s.k < 1 || s.k > 10000)
    throw new McpInputError(`k ${s.k} is not allowed`);
  const where = [s.namespaces.length === 1 ? 'namespace = $1' : 'namespace = ANY ($1::text[])'];
  if (s.filter) {
    values.push(JSON.stringify(s.filter));
    where.push(
      `${s.table === 'graph_nodes' ? 'properties' : 'metadata'} @> $${values.length}::jsonb`,
    );
  }
  if (s.table === 'graph_nodes') where.push(`kind IS DISTINCT FROM '${EDGE_KIND}'`);
  if (s.table === 'patterns' && s.patternType !== undefined) {
    values.push(s.patternType);
    where.push(`pattern_type = $${values.length}`);
  }
  if (s.table === 'patterns' && s.minConfidence !== undefined) {
    values.push(s.minConfidence);
    where.push(`confidence >= $${values.length}`);
  }
  return {
    text: `SELECT ${SEARCH_COLUMNS[s.table]}, embedding ${op} $2::vector AS distance
             FROM memory.${s.table} WHERE ${where.join(' AND ')}
            ORDER BY embedding ${op} $2::vector LIMIT ${s.k}`,
    values,
  };
}

export async function search(db: Queryable, s: SearchInput): Promise<Record<string, unknown>[]> {
  const q = searchSql(s);
  return (await db.query(q.text, q.values)).rows;
}

export interface PatternInput {
  namespace: string;
  name: string;
  description?: string | undefined;
  patternType?: string | undefined;
  confidence?: number | undefined;
  metadata?: Record<string, unknown> | undefined;
  embedding?: number[] | undefined;
}

export async function storePattern(db: Queryable, p: PatternInput): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO memory.patterns (namespace, name, description, pattern_type, confidence, metadata, embedding)
     VALUES ($1, $2, $3, $4, coalesce($5, 0.5), coalesce($6::jsonb, '{}'), $7::vector) RETURNING id`,
    [
      p.namespace,
      p.name,
      p.description ?? null,
      p.patternType ?? null,
      p.confidence ?? null,
      json(p.metadata),
      vec(p.embedding),
    ],
  );
  return r.rows[0]!.id;
}

export interface TrajectoryInput {
  namespace: string;
  id?: string | undefined;
  task?: string | undefined;
  steps: unknown[];
  outcome?: string | undefined;
  reward?: number | undefined;
  embedding?: number[] | undefined;
}

/** A new trajectory, or steps appended to one (`id`); null when `id` is not visible. */
export async function appendTrajectory(
  db: Queryable,
  t: TrajectoryInput,
): Promise<{ id: string; steps: number } | null> {
  if (t.id) {
    const r = await db.query<{ id: string; steps: number }>(
      `UPDATE memory.trajectories
          SET steps = steps || $3::jsonb, outcome = coalesce($4, outcome),
              reward = coalesce($5, reward), embedding = coalesce($6::vector, embedding)
        WHERE id = $1 AND namespace = $2 RETURNING id, jsonb_array_length(steps) AS steps`,
      [
        t.id,
        t.namespace,
        JSON.stringify(t.steps),
        t.outcome ?? null,
        t.reward ?? null,
        vec(t.embedding),
      ],
    );
    return r.rows[0] ?? null;
  }
  const r = await db.query<{ id: string; steps: number }>(
    `INSERT INTO memory.trajectories (namespace, task, steps, outcome, reward, embedding)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6::vector) RETURNING id, jsonb_array_length(steps) AS steps`,
    [
      t.namespace,
      t.task ?? null,
      JSON.stringify(t.steps),
      t.outcome ?? null,
      t.reward ?? null,
      vec(t.embedding),
    ],
  );
  return r.rows[0]!;
}

const TRAJECTORY_COLUMNS = 'id, namespace, task, steps, outcome, reward, created_at';

export async function readTrajectories(
  db: Queryable,
  namespace: string,
  by: { id?: string | undefined },
  limit: number,
): Promise<Record<string, unknown>[]> {
  const r = by.id
    ? await db.query(
        `SELECT ${TRAJECTORY_COLUMNS} FROM memory.trajectories WHERE id = $1 AND namespace = $2`,
        [by.id, namespace],
      )
    : await db.query(
        `SELECT ${TRAJECTORY_COLUMNS} FROM memory.trajectories WHERE namespace = $1
          ORDER BY created_at DESC LIMIT $2`,
        [namespace, limit],
      );
  return r.rows;
}

export interface NodeInput {
  namespace: string;
  label: string;
  kind?: string | undefined;
  properties?: Record<string, unknown> | undefined;
  embedding?: number[] | undefined;
}

export async function addNode(db: Queryable, n: NodeInput): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO memory.graph_nodes (namespace, label, kind, properties, embedding)
     VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'), $5::vector) RETURNING id`,
    [n.namespace, n.label, n.kind ?? null, json(n.properties), vec(n.embedding)],
  );
  return r.rows[0]!.id;
}

/** Ids among `ids` that are nodes (not edges) of the namespace. */
export async function existingNodes(
  db: Queryable,
  namespace: string,
  ids: readonly string[],
): Promise<Set<string>> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM memory.graph_nodes WHERE namespace = $1 AND id = ANY ($2::uuid[])
        AND kind IS DISTINCT FROM '${EDGE_KIND}'`,
    [namespace, [...ids]],
  );
  return new Set(r.rows.map((x) => x.id));
}

export interface EdgeInput {
  namespace: string;
  from: string;
  to: string;
  relation: string;
  weight?: number | undefined;
  properties?: Record<string, unknown> | undefined;
}

/** An edge is a graph_nodes row of kind `pgmesh:edge` (same shard as its nodes). */
export async function addEdge(db: Queryable, e: EdgeInput): Promise<string> {
  const props = { ...(e.properties ?? {}), from: e.from, to: e.to, weight: e.weight ?? 1 };
  const r = await db.query<{ id: string }>(
    `INSERT INTO memory.graph_nodes (namespace, label, kind, properties)
     VALUES ($1, $2, '${EDGE_KIND}', $3::jsonb) RETURNING id`,
    [e.namespace, e.relation, JSON.stringify(props)],
  );
  return r.rows[0]!.id;
}

export async function neighbours(
  db: Queryable,
  namespace: string,
  node: string,
  direction: 'out' | 'in' | 'both',
  limit: number,
): Promise<Array<{ edge: Record<string, unknown>; node: Record<string, unknown> | null }>> {
  const cond =
    direction === 'out'
      ? "properties->>'from' = $2"
      : direction === 'in'
        ? "properties->>'to' = $2"
        : "(properties->>'from' = $2 OR properties->>'to' = $2)";
  const edges = await db.query<{
    id: string;
    relation: string;
    properties: Record<string, string>;
  }>(
    `SELECT id, label AS relation, properties FROM memory.graph_nodes
      WHERE namespace = $1 AND kind = '${EDGE_KIND}' AND ${cond}
      ORDER BY created_at LIMIT $3`,
    [namespace, node, limit],
  );
  const other = (e: { properties: Record<string, string> }): string =>
    e.properties.from === node ? e.properties.to! : e.properties.from!;
  const ids = [...new Set(edges.rows.map(other))];
  const nodes = ids.length
    ? await db.query<{ id: string }>(
        `SELECT id, namespace, label, kind, properties, created_at FROM memory.graph_nodes
          WHERE namespace = $1 AND id = ANY ($2::uuid[])`,
        [namespace, ids],
      )
    : { rows: [] };
  const byId = new Map(nodes.rows.map((n) => [n.id, n as Record<string, unknown>]));
  return edges.rows.map((e) => ({ edge: e, node: byId.get(other(e)) ?? null }));
}
