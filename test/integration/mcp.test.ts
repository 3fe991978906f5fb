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
import { REPO } from '../helpers/cli.js';
import {
  MCP_DIMS,
  startMcpCluster,
  WORKER_PASSWORD,
  type McpTestCluster,
} from '../helpers/mcp-cluster.js';
import { rng } from '../helpers/engine.js';

const PREFIX = 'pgmtest-engine-mcp';

let t: McpTestCluster;
let endpoint: McpEndpoint;
let registry: Registry;
let metrics: McpMetrics;
const sessions: AgentSession[] = [];
const clients: Client[] = [];
let a: Client;
let b: Client;
let sessionA: AgentSession;

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
  const sc = r.structuredContent as { data?: unknown } | undefined;
  return { error: r.isError === true, text, data: (sc && 'data' in sc ? sc.data : sc) as any };
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
