/**
 * The tools: typed inputs (zod shapes the SDK turns into JSON Schemas and validates), no
 * free SQL but the optional read-only `sql_query`. Each handler checks the namespace
 * against the agent's McpClient first (a clear error); the database enforces the same
 * with row-level security, so a handler bug cannot widen what the role sees.
 */
import { z } from 'zod';
import type pg from 'pg';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { McpDeniedError, McpInputError } from '../core/errors.js';
import type { McpAgent } from './config.js';
import { checkEmbedding, checkJson, checkText } from './limits.js';
import { dataResult, plainResult } from './mark.js';
import { runReadOnlySql } from './sql-tool.js';
import * as store from './store.js';

export interface ToolContext {
  agent: McpAgent;
  db: store.Queryable;
  /** The `<role>_ro` pool, when `allow.sql`. */
  sqlDb: pg.Pool | null;
  dims: Record<store.MemoryTable, number>;
  /** Cluster status beyond the engine's (the CLI wires Docker's view); optional. */
  status?: () => Promise<unknown>;
  /** The agent's latest drift report; optional. */
  drift?: () => Promise<unknown>;
}

export interface ToolOutcome {
  result: CallToolResult;
  namespace: string | null;
  rows: number;
}

export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  shape: z.ZodRawShape;
  readOnly: boolean;
  enabled(agent: McpAgent): boolean;
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome>;
}

const NAMESPACE = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'a namespace: 1-128 of A-Z a-z 0-9 _ . : -')
  .describe('Memory namespace (see namespaces_list)');
const UUID = z.string().uuid();
const EMBEDDING = z
  .array(z.number())
  .min(1)
  .max(16000)
  .describe('Embedding computed by the caller; its length must be the column dimension');
const JSON_OBJECT = z.record(z.string(), z.unknown());
const DISTANCE = z
  .enum(['cosine', 'l2', 'inner_product'])
  .default('cosine')
  .describe('cosine (<=>, the HNSW index), l2 (<->) or inner_product (<#>, negated)');

export function canRead(agent: McpAgent, ns: string): boolean {
  return agent.read.includes(ns) || agent.write.includes(ns);
}

function readable(agent: McpAgent, ns: string): string {
  if (!canRead(agent, ns)) {
    throw new McpDeniedError(
      `namespace ${JSON.stringify(ns)} is not one agent ${agent.name} may read (see namespaces_list)`,
    );
  }
  return ns;
}

function writable(agent: McpAgent, ns: string): string {
  if (!agent.write.includes(ns)) {
    throw new McpDeniedError(
      `namespace ${JSON.stringify(ns)} is not one agent ${agent.name} may write (see namespaces_list)`,
    );
  }
  return ns;
}

/** A k / limit: given (checked against maxResults), or the default capped by maxResults. */
function k(agent: McpAgent, value: unknown, fallback = 10): number {
  if (typeof value !== 'number') return Math.min(fallback, agent.limits.maxResults);
  const n = value;
  if (n > agent.limits.maxResults) {
    throw new McpInputError(
      `k/limit ${n} is above this agent's maxResults ${agent.limits.maxResults}`,
    );
  }
  return n;
}

function texts(agent: McpAgent, fields: Record<string, unknown>): void {
  for (const [f, v] of Object.entries(fields)) {
    if (typeof v === 'string') checkText(f, v, agent.limits.maxContentBytes);
  }
}

function jsons(agent: McpAgent, fields: Record<string, unknown>): void {
  for (const [f, v] of Object.entries(fields)) checkJson(f, v, agent.limits.maxMetadataBytes);
}

type A = Record<string, unknown>;
const str = (a: A, f: string): string | undefined => a[f] as string | undefined;
const obj = (a: A, f: string): Record<string, unknown> | undefined =>
  a[f] as Record<string, unknown> | undefined;
const nums = (a: A, f: string): number[] | undefined => a[f] as number[] | undefined;

/** The namespaces of a search: one, several, or (none given) every readable one. */
function searchNamespaces(agent: McpAgent, a: A): string[] {
  const one = str(a, 'namespace');
  const many = a.namespaces as string[] | undefined;
  if (one !== undefined && many !== undefined) {
    throw new McpInputError('give either namespace or namespaces, not both');
  }
  const list = one !== undefined ? [one] : (many ?? [...new Set([...agent.read, ...agent.write])]);
  if (list.length === 0) throw new McpDeniedError(`agent ${agent.name} has no namespace to read`);
  return [...new Set(list.map((ns) => readable(agent, ns)))].sort();
}

const SEARCH_SHAPE = {
  namespace: NAMESPACE.optional().describe('Search one namespace (one shard)'),
  namespaces: z
    .array(NAMESPACE)
    .min(1)
    .max(256)
    .optional()
    .describe('Search several namespaces; omit both for every namespace this agent may read'),
  embedding: EMBEDDING,
  k: z.number().int().min(1).max(1000).optional().describe('How many nearest rows (default 10)'),
  distance: DISTANCE,
};

export const TOOLS: readonly ToolDefinition[] = [
  {
    name: 'namespaces_list',
    title: 'List namespaces',
    description: 'The memory namespaces this agent may read, and which of them it may write.',
    shape: {},
    readOnly: true,
    enabled: () => true,
    async run(_a, ctx) {
      const list = [
        ...ctx.agent.write.map((namespace) => ({ namespace, access: 'read-write' })),
        ...ctx.agent.read.map((namespace) => ({ namespace, access: 'read' })),
      ];
      return {
        result: plainResult(`${list.length} namespace(s)`, { namespaces: list }),
        namespace: null,
        rows: list.length,
      };
    },
  },
  {
    name: 'memory_store',
    title: 'Store a memory',
    description:
      'Stores one memory (content, optional key, metadata and embedding) in a namespace this agent may write. Returns its id.',
    shape: {
      namespace: NAMESPACE,
      key: z.string().max(1024).optional().describe('Optional lookup key (not unique)'),
      content: z.string().min(1).describe('The text to remember'),
      metadata: JSON_OBJECT.optional().describe('JSON object, searchable with filter'),
      embedding: EMBEDDING.optional(),
    },
    readOnly: false,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      texts(ctx.agent, { content: a.content, key: a.key });
      jsons(ctx.agent, { metadata: a.metadata });
      checkEmbedding(
        'embedding',
        nums(a, 'embedding'),
        ctx.dims.memory_entries,
        'memory.memory_entries',
      );
      const id = await store.storeMemory(ctx.db, {
        namespace,
        key: str(a, 'key'),
        content: str(a, 'content')!,
        metadata: obj(a, 'metadata'),
        embedding: nums(a, 'embedding'),
      });
      return { result: plainResult('stored', { id, namespace }), namespace, rows: 1 };
    },
  },
  {
    name: 'memory_get',
    title: 'Get memories',
    description:
      'Reads a memory by id, or the memories with a key, in a namespace this agent may read.',
    shape: {
      namespace: NAMESPACE,
      id: UUID.optional(),
      key: z.string().max(1024).optional(),
      limit: z.number().int().min(1).max(1000).optional().describe('default 10'),
    },
    readOnly: true,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = readable(ctx.agent, str(a, 'namespace')!);
      if ((a.id === undefined) === (a.key === undefined)) {
        throw new McpInputError('give exactly one of id or key');
      }
      const rows = await store.getMemory(
        ctx.db,
        namespace,
        { id: str(a, 'id'), key: str(a, 'key') },
        k(ctx.agent, a.limit),
      );
      return {
        result: dataResult(`${rows.length} memory(ies) from ${namespace}`, rows),
        namespace,
        rows: rows.length,
      };
    },
  },
  {
    name: 'memory_update',
    title: 'Update a memory',
    description:
      'Changes the content, metadata or embedding of a memory in a namespace this agent may write.',
    shape: {
      namespace: NAMESPACE,
      id: UUID,
      content: z.string().min(1).optional(),
      metadata: JSON_OBJECT.optional(),
      embedding: EMBEDDING.optional(),
    },
    readOnly: false,
    enabled: (agent) => agent.allow.update,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      texts(ctx.agent, { content: a.content });
      jsons(ctx.agent, { metadata: a.metadata });
      checkEmbedding(
        'embedding',
        nums(a, 'embedding'),
        ctx.dims.memory_entries,
        'memory.memory_entries',
      );
      if (a.content === undefined && a.metadata === undefined && a.embedding === undefined) {
        throw new McpInputError('nothing to change: give content, metadata or embedding');
      }
      const n = await store.updateMemory(ctx.db, namespace, str(a, 'id')!, {
        content: str(a, 'content'),
        metadata: obj(a, 'metadata'),
        embedding: nums(a, 'embedding'),
      });
      return {
        result: plainResult(n ? 'updated' : 'no such memory', { updated: n }),
        namespace,
        rows: n,
      };
    },
  },
  {
    name: 'memory_delete',
    title: 'Delete a memory',
    description: 'Deletes a memory by id in a namespace this agent may write.',
    shape: { namespace: NAMESPACE, id: UUID },
    readOnly: false,
    enabled: (agent) => agent.allow.delete,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      const n = await store.deleteMemory(ctx.db, namespace, str(a, 'id')!);
      return {
        result: plainResult(n ? 'deleted' : 'no such memory', { deleted: n }),
        namespace,
        rows: n,
      };
    },
  },
  {
    name: 'memory_search',
    title: 'Search memories',
    description:
      'Nearest memories to an embedding, in one namespace (one shard) or across the namespaces this agent may read; filter on metadata (JSON containment).',
    shape: { ...SEARCH_SHAPE, filter: JSON_OBJECT.optional().describe('metadata @> filter') },
    readOnly: true,
    enabled: () => true,
    async run(a, ctx) {
      const namespaces = searchNamespaces(ctx.agent, a);
      checkEmbedding(
        'embedding',
        nums(a, 'embedding'),
        ctx.dims.memory_entries,
        'memory.memory_entries',
      );
      jsons(ctx.agent, { filter: a.filter });
      const rows = await store.search(ctx.db, {
        table: 'memory_entries',
        namespaces,
        embedding: nums(a, 'embedding')!,
        k: k(ctx.agent, a.k),
        distance: a.distance as store.Distance,
        filter: obj(a, 'filter'),
      });
      return {
        result: dataResult(`${rows.length} nearest memories`, rows),
        namespace: namespaces.join(','),
        rows: rows.length,
      };
    },
  },
  {
    name: 'pattern_store',
    title: 'Store a pattern',
    description:
      'Stores a learned pattern (name, description, type, confidence, metadata, embedding).',
    shape: {
      namespace: NAMESPACE,
      name: z.string().min(1).max(1024),
      description: z.string().optional(),
      patternType: z.string().max(256).optional(),
      confidence: z.number().min(0).max(1).optional(),
      metadata: JSON_OBJECT.optional(),
      embedding: EMBEDDING.optional(),
    },
    readOnly: false,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      texts(ctx.agent, { name: a.name, description: a.description, patternType: a.patternType });
      jsons(ctx.agent, { metadata: a.metadata });
      checkEmbedding('embedding', nums(a, 'embedding'), ctx.dims.patterns, 'memory.patterns');
      const id = await store.storePattern(ctx.db, {
        namespace,
        name: str(a, 'name')!,
        description: str(a, 'description'),
        patternType: str(a, 'patternType'),
        confidence: a.confidence as number | undefined,
        metadata: obj(a, 'metadata'),
        embedding: nums(a, 'embedding'),
      });
      return { result: plainResult('stored', { id, namespace }), namespace, rows: 1 };
    },
  },
  {
    name: 'pattern_search',
    title: 'Search patterns',
    description: 'Nearest patterns to an embedding, optionally of one type and above a confidence.',
    shape: {
      ...SEARCH_SHAPE,
      filter: JSON_OBJECT.optional().describe('metadata @> filter'),
      patternType: z.string().max(256).optional(),
      minConfidence: z.number().min(0).max(1).optional(),
    },
    readOnly: true,
    enabled: () => true,
    async run(a, ctx) {
      const namespaces = searchNamespaces(ctx.agent, a);
      checkEmbedding('embedding', nums(a, 'embedding'), ctx.dims.patterns, 'memory.patterns');
      const rows = await store.search(ctx.db, {
        table: 'patterns',
        namespaces,
        embedding: nums(a, 'embedding')!,
        k: k(ctx.agent, a.k),
        distance: a.distance as store.Distance,
        filter: obj(a, 'filter'),
        patternType: str(a, 'patternType'),
        minConfidence: a.minConfidence as number | undefined,
      });
      return {
        result: dataResult(`${rows.length} nearest patterns`, rows),
        namespace: namespaces.join(','),
        rows: rows.length,
      };
    },
  },
  {
    name: 'trajectory_append',
    title: 'Append to a trajectory',
    description:
      'Starts a trajectory (no id) or appends steps to one (id; needs allow.update): task, steps (JSON values), outcome, reward.',
    shape: {
      namespace: NAMESPACE,
      id: UUID.optional(),
      task: z.string().optional(),
      steps: z.array(z.unknown()).max(1000).default([]),
      outcome: z.string().optional(),
      reward: z.number().optional(),
      embedding: EMBEDDING.optional(),
    },
    readOnly: false,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      if (a.id !== undefined && !ctx.agent.allow.update) {
        throw new McpDeniedError(`agent ${ctx.agent.name} may not update (allow.update is false)`);
      }
      texts(ctx.agent, { task: a.task, outcome: a.outcome });
      jsons(ctx.agent, { steps: a.steps });
      checkEmbedding(
        'embedding',
        nums(a, 'embedding'),
        ctx.dims.trajectories,
        'memory.trajectories',
      );
      const r = await store.appendTrajectory(ctx.db, {
        namespace,
        id: str(a, 'id'),
        task: str(a, 'task'),
        steps: a.steps as unknown[],
        outcome: str(a, 'outcome'),
        reward: a.reward as number | undefined,
        embedding: nums(a, 'embedding'),
      });
      if (!r) throw new McpInputError(`no trajectory ${String(a.id)} in namespace ${namespace}`);
      return { result: plainResult('appended', { ...r, namespace }), namespace, rows: 1 };
    },
  },
  {
    name: 'trajectory_read',
    title: 'Read trajectories',
    description: 'One trajectory by id, or the latest ones of a namespace.',
    shape: {
      namespace: NAMESPACE,
      id: UUID.optional(),
      limit: z.number().int().min(1).max(1000).optional().describe('default 10'),
    },
    readOnly: true,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = readable(ctx.agent, str(a, 'namespace')!);
      const rows = await store.readTrajectories(
        ctx.db,
        namespace,
        { id: str(a, 'id') },
        k(ctx.agent, a.limit),
      );
      return {
        result: dataResult(`${rows.length} trajectory(ies)`, rows),
        namespace,
        rows: rows.length,
      };
    },
  },
  {
    name: 'graph_node_add',
    title: 'Add a graph node',
    description: 'Adds a node (label, kind, properties, embedding) to the namespace graph.',
    shape: {
      namespace: NAMESPACE,
      label: z.string().min(1).max(4096),
      kind: z
        .string()
        .max(256)
        .refine((s) => !s.startsWith('pgmesh:'), 'kinds starting with pgmesh: are reserved')
        .optional(),
      properties: JSON_OBJECT.optional(),
      embedding: EMBEDDING.optional(),
    },
    readOnly: false,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      texts(ctx.agent, { label: a.label });
      jsons(ctx.agent, { properties: a.properties });
      checkEmbedding('embedding', nums(a, 'embedding'), ctx.dims.graph_nodes, 'memory.graph_nodes');
      const id = await store.addNode(ctx.db, {
        namespace,
        label: str(a, 'label')!,
        kind: str(a, 'kind'),
        properties: obj(a, 'properties'),
        embedding: nums(a, 'embedding'),
      });
      return { result: plainResult('added', { id, namespace }), namespace, rows: 1 };
    },
  },
  {
    name: 'graph_edge_add',
    title: 'Add a graph edge',
    description: 'Adds a directed edge between two nodes of the same namespace.',
    shape: {
      namespace: NAMESPACE,
      from: UUID,
      to: UUID,
      relation: z.string().min(1).max(256),
      weight: z.number().optional(),
      properties: JSON_OBJECT.optional(),
    },
    readOnly: false,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = writable(ctx.agent, str(a, 'namespace')!);
      jsons(ctx.agent, { properties: a.properties });
      const ends = [str(a, 'from')!, str(a, 'to')!];
      const found = await store.existingNodes(ctx.db, namespace, ends);
      const missing = ends.filter((id) => !found.has(id));
      if (missing.length)
        throw new McpInputError(`no node ${missing.join(', ')} in namespace ${namespace}`);
      const id = await store.addEdge(ctx.db, {
        namespace,
        from: ends[0]!,
        to: ends[1]!,
        relation: str(a, 'relation')!,
        weight: a.weight as number | undefined,
        properties: obj(a, 'properties'),
      });
      return { result: plainResult('added', { id, namespace }), namespace, rows: 1 };
    },
  },
  {
    name: 'graph_neighbours',
    title: 'Neighbours of a node',
    description: 'Edges of a node (out, in or both) with the node at the other end.',
    shape: {
      namespace: NAMESPACE,
      node: UUID,
      direction: z.enum(['out', 'in', 'both']).default('both'),
      limit: z.number().int().min(1).max(1000).optional().describe('default 50'),
    },
    readOnly: true,
    enabled: () => true,
    async run(a, ctx) {
      const namespace = readable(ctx.agent, str(a, 'namespace')!);
      const rows = await store.neighbours(
        ctx.db,
        namespace,
        str(a, 'node')!,
        a.direction as 'out' | 'in' | 'both',
        k(ctx.agent, a.limit, 50),
      );
      return {
        result: dataResult(`${rows.length} neighbour(s)`, rows),
        namespace,
        rows: rows.length,
      };
    },
  },
  {
    name: 'cluster_status',
    title: 'Cluster status',
    description:
      'Read-only: worker groups, shards per group and running moves as the engine sees them.',
    shape: {},
    readOnly: true,
    enabled: () => true,
    async run(_a, ctx) {
      const r = await ctx.db.query<{ s: unknown }>('SELECT pgmesh_mcp.cluster_status() AS s');
      const extra = ctx.status ? await ctx.status() : undefined;
      const data = { engine: r.rows[0]?.s, ...(extra !== undefined ? { cluster: extra } : {}) };
      return { result: dataResult('cluster status', data), namespace: null, rows: 1 };
    },
  },
  {
    name: 'drift_report',
    title: 'Latest drift report',
    description:
      "Read-only: the GitOps agent's latest drift report (what differs from the manifests).",
    shape: {},
    readOnly: true,
    enabled: () => true,
    async run(_a, ctx) {
      const report = ctx.drift ? await ctx.drift() : null;
      return {
        result: dataResult(
          report ? 'latest drift report' : 'no drift report available',
          report ?? null,
        ),
        namespace: null,
        rows: report ? 1 : 0,
      };
    },
  },
  {
    name: 'sql_query',
    title: 'Read-only SQL',
    description:
      'One read-only SQL statement as role <role>_ro: SELECT privileges on schema memory only, the same namespaces, a statement timeout, in a READ ONLY transaction that is rolled back. One statement per call (the extended protocol refuses more).',
    shape: {
      sql: z.string().min(1).max(65536),
      maxRows: z.number().int().min(1).max(1000).optional().describe('default 100'),
    },
    readOnly: true,
    enabled: (agent) => agent.allow.sql,
    async run(a, ctx) {
      if (!ctx.sqlDb) throw new McpDeniedError(`agent ${ctx.agent.name} has no read-only SQL role`);
      const out = await runReadOnlySql(ctx.sqlDb, str(a, 'sql')!, {
        timeoutMs: ctx.agent.limits.sqlTimeoutMs,
        maxRows: k(ctx.agent, a.maxRows, 100),
      });
      return {
        result: dataResult(`${out.rows.length} row(s)`, out),
        namespace: null,
        rows: out.rows.length,
      };
    },
  },
];
