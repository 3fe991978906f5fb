/**
 * `pgmesh mcp` against real PostgreSQL with the engine (two worker groups): an MCP client
 * of the SDK lists the tools and calls each (in-process and over stdio), and what it
 * stores and finds is what direct SQL returns; two agents cannot see or write each
 * other's namespaces through any tool nor through a direct connection with their roles
 * (to the coordinator or to a worker); hostile inputs get clear tool errors and write
 * nothing; every call is audited.
 */
import path from 'node:path';
import pg from 'pg';
import { Registry } from 'prom-client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/core/log.js';
import { createMcpMetrics, type McpMetrics } from '../../agent/mcp/audit.js';
import { agentsFromManifests, findAgent, type McpEndpoint } from '../../agent/mcp/config.js';
import { buildMcpHttp, startMcpHttp } from '../../agent/mcp/http.js';
import { openAgent, type AgentSession } from '../../agent/mcp/session.js';
import { searchSql } from '../../agent/mcp/store.js';
import { readData } from '../../agent/mcp/mark.js';
import { REPO } from '../helpers/cli.js';
import {
  MCP_DIMS,
  startMcpCluster,
  WORKER_PASSWORD,
  type McpTestCluster,
} from '../helpers/mcp-cluster.js';
import { rng } from '../helpers/engine.js';
import { latencyLine, latencyReport, measureSearchLatency } from '../helpers/mcp-latency.js';

const PREFIX = 'pgmtest-engine-mcp';
// Tool results are JSON of the tools' own shapes; the assertions say what they expect.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

let t: McpTestCluster;
let endpoint: McpEndpoint;
let registry: Registry;
let metrics: McpMetrics;
const sessions: AgentSession[] = [];
const clients: Client[] = [];
let a: Client;
let b: Client;
let sessionA: AgentSession;
let rateLimited = 0;

const next = rng(18);
function embedding(dims = MCP_DIMS): number[] {
  return Array.from({ length: dims }, () => Number((next() * 2 - 1).toFixed(4)));
}

async function open(name: string, drift?: () => Promise<unknown>): Promise<AgentSession> {
  const agent = findAgent(agentsFromManifests(t.set), name);
  const s = await openAgent(agent, {
    endpoint,
    secret: t.secret,
    log: silentLogger(),
    metrics,
    withToken: true,
    ...(drift ? { drift } : {}),
  });
  sessions.push(s);
  return s;
}

async function connect(s: AgentSession): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await s.newServer().connect(serverSide);
  const c = new Client({ name: 'pgmesh-test', version: '1' });
  await c.connect(clientSide);
  clients.push(c);
  return c;
}

/** A tool's structured data, or the error text when it failed. */
async function call(c: Client, name: string, args: Record<string, unknown> = {}) {
  const r = (await c.callTool({ name, arguments: args })) as CallToolResult;
  const text = r.content.map((x) => (x.type === 'text' ? x.text : '')).join('\n');
  // Data results carry their JSON between the markers; plain results as structured content.
  const data = (text.includes('<<pgmesh-data ') ? readData(text) : r.structuredContent) as Any;
  return { error: r.isError === true, text, data };
}

async function asRole<T>(
  port: number,
  user: string,
  password: string,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function count(table: string, where = 'true', values: unknown[] = []): Promise<number> {
  const r = await t.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM memory.${table} WHERE ${where}`,
    values,
  );
  return Number(r.rows[0]!.n);
}

beforeAll(async () => {
  t = await startMcpCluster(PREFIX);
  const rounds = await t.converge();
  // The client roles wait for their policies: created (NOLOGIN) by the sync, given LOGIN
  // and GRANTs after it, mapped to every worker group last.
  expect(rounds.flat()).toContain('sync-mcp-policies');
  expect(rounds.flat()).toContain('ensure-mcp-mapping');
  endpoint = { host: '127.0.0.1', port: t.cluster.coordinator.port, database: 'postgres' };
  registry = new Registry();
  metrics = createMcpMetrics(registry);
  sessionA = await open('agent-a', async () => ({ commit: 'abc', items: [] }));
  a = await connect(sessionA);
  b = await connect(await open('agent-b'));
}, 900_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const s of sessions) await s.close().catch(() => {});
  await t?.stop();
});

describe('the shards backend for McpClient', () => {
  it('converges: a second plan is empty and every table has its policies', async () => {
    expect(await t.converge()).toEqual([]);
    const problems = await t.db.query<{ p: unknown[] }>(
      "SELECT pgmesh.mcp_policy_problems(ARRAY['memory.memory_entries','memory.patterns','memory.graph_nodes','memory.trajectories']::regclass[]) AS p",
    );
    expect(problems.rows[0]!.p).toEqual([]);
    const clientsRows = await t.db.query(
      'SELECT role_name::text AS role, read_ns, write_ns FROM pgmesh.mcp_clients ORDER BY 1',
    );
    expect(clientsRows.rows).toEqual([
      { role: 'agent_a', read_ns: ['shared'], write_ns: ['a'] },
      { role: 'agent_a_ro', read_ns: ['a', 'shared'], write_ns: [] },
      { role: 'agent_b', read_ns: [], write_ns: ['b', 'shared'] },
    ]);
  });
});

/** Rows of the coordinator as the superuser: the truth the tools are compared with. */
async function sql(text: string, values: unknown[] = []): Promise<Any[]> {
  return (await t.db.query(text, values)).rows;
}

function vectorOf(text: string): number[] {
  return text.slice(1, -1).split(',').map(Number);
}

function close(x: number[], y: number[]): boolean {
  return x.length === y.length && x.every((v, i) => Math.abs(v - y[i]!) < 1e-6);
}

describe('tools over the MCP protocol (in-process client of the SDK)', () => {
  it('lists the tools with their JSON Schemas; an agent sees only what its McpClient allows', async () => {
    const listA = (await a.listTools()).tools;
    const listB = (await b.listTools()).tools;
    const namesA = listA.map((x) => x.name).sort();
    expect(namesA).toEqual(
      [
        'cluster_status',
        'drift_report',
        'graph_edge_add',
        'graph_neighbours',
        'graph_node_add',
        'memory_delete',
        'memory_get',
        'memory_search',
        'memory_store',
        'memory_update',
        'namespaces_list',
        'pattern_search',
        'pattern_store',
        'sql_query',
        'trajectory_append',
        'trajectory_read',
      ].sort(),
    );
    // agent-b: defaults (update yes, delete no, sql no).
    expect(listB.map((x) => x.name)).not.toContain('memory_delete');
    expect(listB.map((x) => x.name)).not.toContain('sql_query');
    expect(listB.map((x) => x.name)).toContain('memory_update');
    const storeTool = listA.find((x) => x.name === 'memory_store')!;
    expect(storeTool.inputSchema.type).toBe('object');
    expect(storeTool.inputSchema.required).toEqual(['namespace', 'content']);
    const props = storeTool.inputSchema.properties as Record<string, Any>;
    expect(props.embedding.type).toBe('array');
    expect(props.embedding.items.type).toBe('number');
    expect(props.embedding.maxItems).toBe(16000);
    expect(props.namespace.pattern).toBeDefined();
    expect(storeTool.inputSchema.additionalProperties).toBe(false);
    const search = listA.find((x) => x.name === 'memory_search')!;
    expect((search.inputSchema.properties as Record<string, Any>).distance.enum).toEqual([
      'cosine',
      'l2',
      'inner_product',
    ]);
  });

  it('namespaces_list shows the read and write namespaces', async () => {
    expect((await call(a, 'namespaces_list')).data).toEqual({
      namespaces: [
        { namespace: 'a', access: 'read-write' },
        { namespace: 'shared', access: 'read' },
      ],
    });
  });

  it('memory_store / get / update / delete: what it stores is what SQL reads', async () => {
    const e = embedding();
    const stored = await call(a, 'memory_store', {
      namespace: 'a',
      key: 'k1',
      content: 'the first memory',
      metadata: { topic: 'x', n: 1 },
      embedding: e,
    });
    expect(stored.error).toBe(false);
    const id = stored.data.id as string;
    const [row] = await sql(
      'SELECT namespace, key, content, metadata, embedding::text AS e FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
      ['a', id],
    );
    expect(row).toMatchObject({
      namespace: 'a',
      key: 'k1',
      content: 'the first memory',
      metadata: { topic: 'x', n: 1 },
    });
    expect(close(vectorOf(row.e), e)).toBe(true);

    const got = await call(a, 'memory_get', { namespace: 'a', id });
    expect(got.data).toHaveLength(1);
    expect(got.data[0]).toMatchObject({
      id,
      key: 'k1',
      content: 'the first memory',
      metadata: { topic: 'x', n: 1 },
    });
    expect(got.text).toContain('<<pgmesh-data ');
    expect(
      (await call(a, 'memory_get', { namespace: 'a', key: 'k1' })).data.map((r: Any) => r.id),
    ).toEqual([id]);

    const e2 = embedding();
    const upd = await call(a, 'memory_update', {
      namespace: 'a',
      id,
      content: 'changed',
      embedding: e2,
    });
    expect(upd.data).toEqual({ updated: 1 });
    const [after] = await sql(
      'SELECT content, metadata, embedding::text AS e FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
      ['a', id],
    );
    expect(after.content).toBe('changed');
    expect(after.metadata).toEqual({ topic: 'x', n: 1 });
    expect(close(vectorOf(after.e), e2)).toBe(true);

    const tmp = await call(a, 'memory_store', { namespace: 'a', content: 'to delete' });
    expect((await call(a, 'memory_delete', { namespace: 'a', id: tmp.data.id })).data).toEqual({
      deleted: 1,
    });
    expect(await count('memory_entries', 'id = $1', [tmp.data.id])).toBe(0);
  });

  it('memory_search returns exactly the top-k of the same query over SQL, in one namespace and across', async () => {
    for (let i = 0; i < 40; i++) {
      await call(a, 'memory_store', {
        namespace: 'a',
        content: `a-${i}`,
        metadata: { i, even: i % 2 === 0 },
        embedding: embedding(),
      });
      await call(b, 'memory_store', {
        namespace: 'shared',
        content: `s-${i}`,
        metadata: { i },
        embedding: embedding(),
      });
      await call(b, 'memory_store', { namespace: 'b', content: `b-${i}`, embedding: embedding() });
    }
    await t.db.query('ANALYZE memory.memory_entries');
    for (const args of [
      { namespace: 'a', k: 7 },
      { namespace: 'a', k: 5, filter: { even: true } },
      { namespace: 'a', k: 5, distance: 'l2' },
      { namespaces: ['a', 'shared'], k: 9 },
      { k: 12 },
    ]) {
      const q = embedding();
      const r = await call(a, 'memory_search', { ...args, embedding: q });
      expect(r.error, r.text).toBe(false);
      const namespaces = args.namespace ? [args.namespace] : (args.namespaces ?? ['a', 'shared']);
      const direct = searchSql({
        table: 'memory_entries',
        namespaces,
        embedding: q,
        k: args.k,
        distance: (args.distance ?? 'cosine') as 'cosine' | 'l2',
        filter: args.filter,
      });
      const want = await sql(direct.text, direct.values);
      expect(want.length).toBe(args.k);
      expect(r.data.map((x: Any) => x.id)).toEqual(want.map((x) => x.id));
      expect(r.data.map((x: Any) => x.distance)).toEqual(want.map((x) => x.distance));
      expect(r.data.every((x: Any) => namespaces.includes(x.namespace))).toBe(true);
    }
  });

  it('patterns: store and search', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await call(a, 'pattern_store', {
        namespace: 'a',
        name: `p${i}`,
        description: `pattern ${i}`,
        patternType: i % 2 ? 'odd' : 'even',
        confidence: i / 10,
        embedding: embedding(),
      });
      ids.push(r.data.id);
    }
    const [row] = await sql(
      'SELECT name, pattern_type, confidence FROM memory.patterns WHERE namespace = $1 AND id = $2',
      ['a', ids[3]],
    );
    expect(row).toEqual({ name: 'p3', pattern_type: 'odd', confidence: 0.3 });
    const q = embedding();
    const r = await call(a, 'pattern_search', {
      namespace: 'a',
      embedding: q,
      k: 3,
      patternType: 'even',
      minConfidence: 0.3,
    });
    const direct = searchSql({
      table: 'patterns',
      namespaces: ['a'],
      embedding: q,
      k: 3,
      distance: 'cosine',
      patternType: 'even',
      minConfidence: 0.3,
    });
    expect(r.data.map((x: Any) => x.id)).toEqual(
      (await sql(direct.text, direct.values)).map((x) => x.id),
    );
    expect(r.data.map((x: Any) => x.name).sort()).toEqual(['p4', 'p6', 'p8']);
  });

  it('trajectories: append and read', async () => {
    const first = await call(a, 'trajectory_append', {
      namespace: 'a',
      task: 'plan a trip',
      steps: [{ do: 'search' }],
    });
    expect(first.data.steps).toBe(1);
    const again = await call(a, 'trajectory_append', {
      namespace: 'a',
      id: first.data.id,
      steps: [{ do: 'book' }, 'done'],
      outcome: 'ok',
      reward: 1,
    });
    expect(again.data).toMatchObject({ id: first.data.id, steps: 3 });
    const [row] = await sql(
      'SELECT task, steps, outcome, reward FROM memory.trajectories WHERE id = $1',
      [first.data.id],
    );
    expect(row).toEqual({
      task: 'plan a trip',
      steps: [{ do: 'search' }, { do: 'book' }, 'done'],
      outcome: 'ok',
      reward: 1,
    });
    const read = await call(a, 'trajectory_read', { namespace: 'a', id: first.data.id });
    expect(read.data[0].steps).toEqual(row.steps);
    const latest = await call(a, 'trajectory_read', { namespace: 'a', limit: 5 });
    expect(latest.data.map((x: Any) => x.id)).toContain(first.data.id);
  });

  it('graph: nodes, edges and neighbours', async () => {
    const n = async (label: string) =>
      (
        await call(a, 'graph_node_add', {
          namespace: 'a',
          label,
          kind: 'city',
          properties: { label },
        })
      ).data.id as string;
    const paris = await n('paris');
    const lyon = await n('lyon');
    const nice = await n('nice');
    for (const [from, to, relation] of [
      [paris, lyon, 'train'],
      [lyon, nice, 'train'],
      [nice, paris, 'plane'],
    ] as const) {
      const r = await call(a, 'graph_edge_add', { namespace: 'a', from, to, relation, weight: 2 });
      expect(r.error, r.text).toBe(false);
    }
    const out = await call(a, 'graph_neighbours', { namespace: 'a', node: lyon, direction: 'out' });
    expect(out.data.map((x: Any) => [x.edge.relation, x.node.label])).toEqual([['train', 'nice']]);
    const both = await call(a, 'graph_neighbours', { namespace: 'a', node: paris });
    expect(both.data.map((x: Any) => x.node.label).sort()).toEqual(['lyon', 'nice']);
    const [{ n: rows }] = await sql(
      "SELECT count(*)::int AS n FROM memory.graph_nodes WHERE namespace = 'a' AND kind = 'pgmesh:edge'",
    );
    expect(rows).toBe(3);
    const missing = await call(a, 'graph_edge_add', {
      namespace: 'a',
      from: paris,
      to: '00000000-0000-4000-8000-000000000000',
      relation: 'x',
    });
    expect(missing.text).toMatch(/^PGMESH_MCP_INPUT: no node 00000000-/);
  });

  it('cluster_status and drift_report, read-only', async () => {
    const st = await call(a, 'cluster_status');
    const groups = await sql(
      'SELECT group_name AS name, state, (SELECT count(*)::int FROM pgmesh.shards s WHERE s.group_name = g.group_name) AS shards FROM pgmesh.worker_groups g ORDER BY 1',
    );
    expect(
      st.data.engine.groups.map((g: Any) => ({ name: g.name, state: g.state, shards: g.shards })),
    ).toEqual(groups);
    expect(st.data.engine.engineVersion).toBeGreaterThanOrEqual(15);
    expect((await call(a, 'drift_report')).data).toEqual({ commit: 'abc', items: [] });
    expect((await call(b, 'drift_report')).text).toContain('no drift report available');
  });

  it('sql_query: read-only, one statement, the agent namespaces, a statement timeout', async () => {
    const r = await call(a, 'sql_query', {
      sql: 'SELECT namespace, count(*)::int FROM memory.memory_entries GROUP BY 1 ORDER BY 1',
    });
    expect(r.error, r.text).toBe(false);
    // Its role sees a and shared only (row-level security), whatever the SQL asks.
    expect(r.data.rows.map((x: Any[]) => x[0])).toEqual(['a', 'shared']);
    const stacked = await call(a, 'sql_query', { sql: 'SELECT 1; DROP TABLE memory.patterns' });
    expect(stacked.text).toMatch(
      /^PGMESH_MCP_FAILED: cannot insert multiple commands into a prepared statement/,
    );
    const write = await call(a, 'sql_query', {
      sql: "INSERT INTO memory.memory_entries (namespace, content) VALUES ('a', 'x')",
    });
    expect(write.text).toMatch(/read-only transaction|permission denied/);
    const commitThenWrite = await call(a, 'sql_query', { sql: 'COMMIT' });
    expect(commitThenWrite.error).toBe(false);
    const slow = await call(a, 'sql_query', { sql: 'SELECT pg_sleep(5)' });
    expect(slow.text).toMatch(/statement timeout.*57014/);
    const unset = await call(a, 'sql_query', { sql: 'SET statement_timeout = 0' });
    expect(unset.error).toBe(false);
    const slowAgain = await call(a, 'sql_query', { sql: 'SELECT pg_sleep(5)' });
    expect(slowAgain.text).toMatch(/statement timeout.*57014/);
    const other = await call(a, 'sql_query', {
      sql: "SELECT count(*)::int FROM memory.memory_entries WHERE namespace = 'b'",
    });
    expect(other.data.rows).toEqual([[0]]);
    expect(await count('memory_entries', "content = 'x'")).toBe(0);
    expect(await count('patterns')).toBeGreaterThan(0);
  });
});

describe('two agents, each held to its namespaces', () => {
  it('no tool lets agent-b read, search or write agent-a namespace', async () => {
    const [{ id }] = await sql(
      "SELECT id FROM memory.memory_entries WHERE namespace = 'a' LIMIT 1",
    );
    const before = await count('memory_entries', "namespace = 'a'");
    const denied = [
      await call(b, 'memory_get', { namespace: 'a', id }),
      await call(b, 'memory_search', { namespace: 'a', embedding: embedding() }),
      await call(b, 'memory_search', { namespaces: ['b', 'a'], embedding: embedding() }),
      await call(b, 'pattern_search', { namespace: 'a', embedding: embedding() }),
      await call(b, 'trajectory_read', { namespace: 'a' }),
      await call(b, 'graph_neighbours', { namespace: 'a', node: id }),
      await call(b, 'memory_store', { namespace: 'a', content: 'intruder' }),
      await call(b, 'memory_update', { namespace: 'a', id, content: 'intruder' }),
      await call(b, 'pattern_store', { namespace: 'a', name: 'intruder' }),
      await call(b, 'trajectory_append', { namespace: 'a', steps: [] }),
      await call(b, 'graph_node_add', { namespace: 'a', label: 'intruder' }),
      await call(a, 'memory_store', { namespace: 'shared', content: 'a may only read shared' }),
      await call(a, 'memory_store', { namespace: 'b', content: 'intruder' }),
    ];
    for (const r of denied)
      expect(r.text).toMatch(
        /^PGMESH_MCP_DENIED: namespace "(a|b|shared)" is not one agent agent-[ab] may (read|write)/,
      );
    expect(await count('memory_entries', "namespace = 'a'")).toBe(before);
    expect(
      await count(
        'memory_entries',
        "content LIKE 'intruder%' OR content = 'a may only read shared'",
      ),
    ).toBe(0);
    // Searching everything it may read never yields another namespace.
    const all = await call(b, 'memory_search', { embedding: embedding(), k: 50 });
    expect(new Set(all.data.map((x: Any) => x.namespace))).toEqual(new Set(['b', 'shared']));
  });

  it('a direct connection to the coordinator with the role is held by row-level security', async () => {
    await asRole(t.cluster.coordinator.port, 'agent_b', 'agent-b-pw-1', async (c) => {
      const seen = await c.query('SELECT DISTINCT namespace FROM memory.memory_entries ORDER BY 1');
      expect(seen.rows.map((r) => r.namespace)).toEqual(['b', 'shared']);
      for (const tbl of ['patterns', 'graph_nodes', 'trajectories']) {
        const r = await c.query(
          `SELECT count(*)::int AS n FROM memory.${tbl} WHERE namespace = 'a'`,
        );
        expect(r.rows[0].n).toBe(0);
      }
      const top = await c.query(
        `SELECT namespace FROM memory.memory_entries ORDER BY embedding <=> $1::vector LIMIT 50`,
        [`[${embedding().join(',')}]`],
      );
      expect(top.rows.every((r) => r.namespace !== 'a')).toBe(true);
      await expect(
        c.query(
          "INSERT INTO memory.memory_entries (namespace, content) VALUES ('a', 'direct intruder')",
        ),
      ).rejects.toThrow(/row-level security/);
      await expect(
        c.query(
          "INSERT INTO memory.trajectories (namespace, task) VALUES ('a', 'direct intruder')",
        ),
      ).rejects.toThrow(/row-level security/);
      const upd = await c.query(
        "UPDATE memory.memory_entries SET content = 'direct intruder' WHERE namespace = 'a'",
      );
      expect(upd.rowCount).toBe(0);
      // Moving one of its rows into a's namespace is a write into a: refused.
      await expect(
        c.query("UPDATE memory.memory_entries SET namespace = 'a' WHERE namespace = 'b'"),
      ).rejects.toThrow(/row-level security|more than one worker group/);
      // agent-b has no DELETE (allow.delete is false).
      await expect(
        c.query("DELETE FROM memory.memory_entries WHERE namespace = 'b'"),
      ).rejects.toThrow(/permission denied/);
      // Nor a way around the parent: the foreign partitions and the audit are not its.
      await expect(c.query('SELECT * FROM pgmesh_part.memory_memory_entries_0')).rejects.toThrow(
        /permission denied/,
      );
      await expect(c.query('SELECT * FROM pgmesh.mcp_audit')).rejects.toThrow(/permission denied/);
    });
    expect(await count('memory_entries', "content = 'direct intruder'")).toBe(0);
    expect(await count('trajectories', "task = 'direct intruder'")).toBe(0);
  });

  it('a direct connection to each worker with the role sees and writes only its namespaces', async () => {
    let shardsSeen = 0;
    let aRowsOnWorkers = 0;
    for (const w of t.cluster.workers) {
      const all = await asRole(w.port, 'postgres', WORKER_PASSWORD, async (c) =>
        (
          await c.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'pgmesh_shards' AND tablename LIKE 'memory_memory_entries_%' ORDER BY 1",
          )
        ).rows.map((r) => r.tablename as string),
      );
      await asRole(w.port, 'agent_b', 'agent-b-pw-1', async (c) => {
        for (const shard of all) {
          shardsSeen++;
          const r = await c.query(`SELECT DISTINCT namespace FROM pgmesh_shards.${shard}`);
          for (const row of r.rows) expect(['b', 'shared']).toContain(row.namespace);
          await expect(
            c.query(
              `INSERT INTO pgmesh_shards.${shard} (namespace, id, content) VALUES ('a', gen_random_uuid(), 'worker intruder')`,
            ),
          ).rejects.toThrow(/row-level security/);
        }
      });
      aRowsOnWorkers += await asRole(w.port, 'postgres', WORKER_PASSWORD, async (c) =>
        Number(
          (
            await c.query(
              `SELECT count(*) FROM (${all.map((s) => `SELECT namespace FROM pgmesh_shards.${s}`).join(' UNION ALL ')}) x WHERE namespace = 'a'`,
            )
          ).rows[0].count,
        ),
      );
    }
    expect(shardsSeen).toBe(4);
    // agent-a's rows are on the workers (the superuser sees them); agent-b did not.
    expect(aRowsOnWorkers).toBe(await count('memory_entries', "namespace = 'a'"));
    expect(await count('memory_entries', "content = 'worker intruder'")).toBe(0);
  });

  it('a token of one agent gets that agent, over Streamable HTTP; a wrong token gets 401', async () => {
    const http = buildMcpHttp({ sessions, registry, log: silentLogger() });
    const url = await startMcpHttp(http, { port: 0 });
    try {
      const connectWith = async (token: string) => {
        const c = new Client({ name: 'pgmesh-http-test', version: '1' });
        await c.connect(
          new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { authorization: `Bearer ${token}` } },
          }),
        );
        return c;
      };
      const hb = await connectWith(await t.secret('pgmesh-mcp-agent-b-token'));
      expect(
        (await call(hb, 'namespaces_list')).data.namespaces.map((n: Any) => n.namespace),
      ).toEqual(['b', 'shared']);
      expect(
        (await call(hb, 'memory_search', { namespace: 'a', embedding: embedding() })).text,
      ).toMatch(/^PGMESH_MCP_DENIED/);
      const stored = await call(hb, 'memory_store', { namespace: 'b', content: 'over http' });
      expect(await count('memory_entries', "namespace = 'b' AND id = $1", [stored.data.id])).toBe(
        1,
      );
      await hb.close();
      const ha = await connectWith(await t.secret('pgmesh-mcp-agent-a-token'));
      expect(
        (await call(ha, 'namespaces_list')).data.namespaces.map((n: Any) => n.namespace),
      ).toEqual(['a', 'shared']);
      await ha.close();
      const bad = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: 'Bearer token-of-agent-a-012345678',
          'content-type': 'application/json',
        },
        body: '{}',
      });
      expect(bad.status).toBe(401);
      const none = await fetch(url, { method: 'POST', body: '{}' });
      expect(none.status).toBe(401);
      const m = await fetch(url.replace('/mcp', '/metrics'), {
        headers: { authorization: `Bearer ${await t.secret('pgmesh-mcp-agent-b-token')}` },
      });
      expect(await m.text()).toMatch(
        /pgmesh_mcp_tool_calls_total\{client="agent-b",tool="memory_store",outcome="ok"\} \d+/,
      );
    } finally {
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });
});

describe('hostile inputs', () => {
  it('stacked statements in any string field are stored as text, never run', async () => {
    const evil = "x'); DROP TABLE memory.patterns; --";
    const before = await count('patterns');
    const r1 = await call(a, 'memory_store', {
      namespace: 'a',
      key: evil,
      content: `COMMIT; DROP SCHEMA memory CASCADE; ${evil}`,
      metadata: { [evil]: evil },
    });
    expect(r1.error, r1.text).toBe(false);
    const [row] = await sql(
      'SELECT key, content, metadata FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
      ['a', r1.data.id],
    );
    expect(row).toEqual({
      key: evil,
      content: `COMMIT; DROP SCHEMA memory CASCADE; ${evil}`,
      metadata: { [evil]: evil },
    });
    const r2 = await call(a, 'pattern_store', {
      namespace: 'a',
      name: evil,
      description: evil,
      patternType: evil,
    });
    expect(r2.error).toBe(false);
    const r3 = await call(a, 'graph_node_add', {
      namespace: 'a',
      label: evil,
      kind: evil,
      properties: { evil },
    });
    expect(r3.error).toBe(false);
    const r4 = await call(a, 'trajectory_append', {
      namespace: 'a',
      task: evil,
      outcome: evil,
      steps: [evil],
    });
    expect(r4.error).toBe(false);
    const r5 = await call(a, 'memory_get', { namespace: 'a', key: evil });
    expect(r5.data[0].content).toContain('DROP SCHEMA');
    const ns = await call(a, 'memory_store', {
      namespace: "a'; DROP TABLE memory.patterns; --",
      content: 'x',
    });
    expect(ns.text).toMatch(/^PGMESH_MCP_INPUT: invalid arguments: namespace: a namespace/);
    const id = await call(a, 'memory_get', { namespace: 'a', id: "1' OR '1'='1" });
    expect(id.text).toMatch(/^PGMESH_MCP_INPUT: invalid arguments: id:/);
    expect(await count('patterns')).toBe(before + 1);
    expect((await sql("SELECT to_regclass('memory.patterns') IS NOT NULL AS ok"))[0].ok).toBe(true);
  });

  it('huge content, huge or wrong-dimension embeddings, unknown fields and namespaces are refused, nothing written', async () => {
    const before = await count('memory_entries');
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'memory_store',
        { namespace: 'a', content: 'é'.repeat(2049) },
        /^PGMESH_MCP_INPUT: content is 4098 bytes; the limit is 4096/,
      ],
      [
        'memory_store',
        { namespace: 'a', content: 'x', metadata: { big: 'y'.repeat(2000) } },
        /^PGMESH_MCP_INPUT: metadata is \d+ bytes as JSON; the limit is 1024/,
      ],
      [
        'memory_store',
        { namespace: 'a', content: 'x', embedding: embedding(16001) },
        /^PGMESH_MCP_INPUT: invalid arguments: embedding: Too big/,
      ],
      [
        'memory_store',
        { namespace: 'a', content: 'x', embedding: embedding(MCP_DIMS + 1) },
        /^PGMESH_MCP_INPUT: embedding has 9 dimensions; memory.memory_entries.embedding is vector\(8\)/,
      ],
      [
        'memory_search',
        { namespace: 'a', embedding: embedding(3) },
        /^PGMESH_MCP_INPUT: embedding has 3 dimensions/,
      ],
      [
        'memory_search',
        { namespace: 'a', embedding: embedding(), k: 51 },
        /^PGMESH_MCP_INPUT: k\/limit 51 is above this agent's maxResults 50/,
      ],
      [
        'memory_store',
        { namespace: 'a', content: 'x', sql: 'DROP TABLE x' },
        /^PGMESH_MCP_INPUT: invalid arguments: \(arguments\): Unrecognized key/,
      ],
      [
        'memory_store',
        { namespace: 'nowhere', content: 'x' },
        /^PGMESH_MCP_DENIED: namespace "nowhere"/,
      ],
      [
        'memory_search',
        { namespace: 'nowhere', embedding: embedding() },
        /^PGMESH_MCP_DENIED: namespace "nowhere"/,
      ],
      ['no_such_tool', {}, /^PGMESH_MCP_DENIED: no tool "no_such_tool"/],
      ['memory_store', { namespace: 'a' }, /^PGMESH_MCP_INPUT: invalid arguments: content:/],
    ];
    for (const [tool, args, want] of cases) {
      const r = await call(a, tool, args);
      expect(r.error, `${tool} ${JSON.stringify(args).slice(0, 80)}`).toBe(true);
      expect(r.text).toMatch(want);
    }
    expect(await count('memory_entries')).toBe(before);
  });

  it('1 000 calls at once from one agent: the rate limit holds, the rest get a clear error', async () => {
    const limited = await connect(await open('agent-b'));
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        call(limited, 'memory_store', { namespace: 'b', content: `burst-${i}` }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const ok = results.filter((r) => !r.error).length;
    const refused = results.filter((r) =>
      /^PGMESH_MCP_RATE_LIMITED: more than 200 calls per second \(burst 20\); retry in \d+ ms/.test(
        r.text,
      ),
    );
    expect(ok + refused.length).toBe(1000);
    rateLimited = refused.length;
    // burst 20 plus 200 a second for the time the calls took (and one more token's slack).
    expect(ok).toBeGreaterThanOrEqual(20);
    expect(ok).toBeLessThanOrEqual(Math.ceil(20 + 200 * seconds) + 1);
    expect(await count('memory_entries', "content LIKE 'burst-%'")).toBe(ok);
  });
});

describe('audit', () => {
  it('every call is a row of pgmesh.mcp_audit (who, tool, namespace, rows, duration) and a metric', async () => {
    for (const s of sessions) await s.audit.flush();
    const rows = await sql(
      "SELECT who::text, tool, namespace, rows, duration_ms, ok, error_code FROM pgmesh.mcp_audit WHERE who = 'agent_a' ORDER BY id",
    );
    const search = rows.find((r) => r.tool === 'memory_search' && r.namespace === 'a' && r.ok);
    expect(search).toMatchObject({ who: 'agent_a', ok: true, error_code: null });
    expect(search.rows).toBeGreaterThan(0);
    expect(search.duration_ms).toBeGreaterThan(0);
    expect(rows.some((r) => r.tool === 'memory_store' && r.error_code === 'PGMESH_MCP_INPUT')).toBe(
      true,
    );
    expect(rows.some((r) => r.tool === '(unknown)' && r.error_code === 'PGMESH_MCP_DENIED')).toBe(
      true,
    );
    const bRows = await sql(
      "SELECT count(*)::int AS n FROM pgmesh.mcp_audit WHERE who = 'agent_b' AND error_code = 'PGMESH_MCP_RATE_LIMITED'",
    );
    expect(bRows[0].n).toBe(rateLimited);
    expect(rateLimited).toBeGreaterThan(0);
    const calls = (await registry.getSingleMetric('pgmesh_mcp_tool_calls_total')!.get()).values;
    const okSearches = calls.find(
      (v) =>
        v.labels.client === 'agent-a' &&
        v.labels.tool === 'memory_search' &&
        v.labels.outcome === 'ok',
    );
    expect(okSearches?.value).toBeGreaterThanOrEqual(5);
    // Who is the login role: an agent cannot write audit rows in another's name.
    await asRole(t.cluster.coordinator.port, 'agent_b', 'agent-b-pw-1', (c) =>
      c.query(`SELECT pgmesh_mcp.audit('[{"tool": "forged", "ok": true}]'::jsonb)`),
    );
    expect(await sql("SELECT who::text FROM pgmesh.mcp_audit WHERE tool = 'forged'")).toEqual([
      { who: 'agent_b' },
    ]);
  });
});

describe('over stdio (pgmesh mcp as a child process)', () => {
  it('lists the tools and stores and finds what SQL reads', async () => {
    const transport = new StdioClientTransport({
      command: path.join(REPO, 'scripts', 'pgmesh'),
      args: [
        'mcp',
        '--client',
        'agent-a',
        '--manifests',
        t.manifestsDir,
        '--secrets-dir',
        t.secretsDir,
        '--endpoint',
        `127.0.0.1:${t.cluster.coordinator.port}`,
        '--database',
        'postgres',
        '--no-cluster',
      ],
      stderr: 'pipe',
    });
    const c = new Client({ name: 'pgmesh-stdio-test', version: '1' });
    await c.connect(transport);
    try {
      expect((await c.listTools()).tools.length).toBe(16);
      const e = embedding();
      const stored = await call(c, 'memory_store', {
        namespace: 'a',
        content: 'over stdio',
        embedding: e,
      });
      const [row] = await sql(
        'SELECT content, embedding::text AS e FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
        ['a', stored.data.id],
      );
      expect(row.content).toBe('over stdio');
      expect(close(vectorOf(row.e), e)).toBe(true);
      const found = await call(c, 'memory_search', { namespace: 'a', embedding: e, k: 1 });
      expect(found.data[0].id).toBe(stored.data.id);
      expect(found.data[0].distance).toBeLessThan(1e-6);
    } finally {
      await c.close();
    }
  });
});

describe('latency smoke (npm run bench:mcp measures it, outside vitest)', () => {
  it('a namespace search through the MCP tool and the same SQL return the same rows', async () => {
    const pool = new pg.Pool({ ...endpoint, user: 'agent_a', password: 'agent-a-pw-1', max: 1 });
    pool.on('error', () => {});
    try {
      const run = await measureSearchLatency({
        client: a,
        pool,
        namespace: 'a',
        k: 10,
        runs: 30,
        warmup: 5,
        embedding,
      });
      expect(run.mismatches).toBe(0);
      const report = latencyReport(run);
      expect(report.runs).toBe(30);
      expect(Number.isFinite(report.addedP50)).toBe(true);
      process.stderr.write(
        `${latencyLine('mcp latency smoke, in vitest (not the benchmark)', report)}\n`,
      );
    } finally {
      await pool.end();
    }
  });
});
