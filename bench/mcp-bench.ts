/**
 * MCP benchmark, one run, real containers (a coordinator and two worker groups, the
 * memory schema, two McpClients): a namespace top-10 through the `memory_search` tool
 * (an MCP client of the SDK, in-process transport, the full protocol: JSON-RPC, schema
 * validation, the namespace check, data marking, audit, metrics) vs the same statement
 * over SQL as the same role through the same coordinator. Target: the tool adds at most
 * 1 ms at p50. Prints p50 and max of both, the difference and the ratio; exits 1 above
 * the target. Runs compiled (npm run bench:mcp), not under vitest, whose module runner
 * slows the in-process path. RUNS (default 2000), ROWS in the namespace (default 2000),
 * PREFIX (pgmtest-engine-mcpbench), ENGINE_IMAGE (default: built from the tree).
 */
import pg from 'pg';
import { Registry } from 'prom-client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { buildTreeImage } from '../agent/host/images.js';
import { createLogger, silentLogger } from '../agent/core/log.js';
import { createMcpMetrics } from '../agent/mcp/audit.js';
import { agentsFromManifests, findAgent } from '../agent/mcp/config.js';
import { openAgent } from '../agent/mcp/session.js';
import { createMcpServer } from '../agent/mcp/server.js';
import { searchSql } from '../agent/mcp/store.js';
import { summarize } from '../agent/bench/stats.js';
import { MCP_DIMS, startMcpCluster } from '../test/helpers/mcp-cluster.js';
import { latencyLine, latencyReport, measureSearchLatency } from '../test/helpers/mcp-latency.js';
import { engineTestImageSpec } from '../test/helpers/test-images.js';

const RUNS = Number(process.env.RUNS ?? 2000);
const ROWS = Number(process.env.ROWS ?? 2000);
const PREFIX = process.env.PREFIX ?? 'pgmtest-engine-mcpbench';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function main(): Promise<void> {
  const repo = process.cwd();
  const image =
    process.env.ENGINE_IMAGE ??
    (await buildTreeImage(engineTestImageSpec(repo), {
      base: process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie',
      log: createLogger({ level: 'warn' }),
    }));
  const t = await startMcpCluster(PREFIX, { repo, image });
  try {
    await t.converge();
    const next = rng(1818);
    const embedding = (): number[] => Array.from({ length: MCP_DIMS }, () => next() * 2 - 1);
    const vectors = Array.from({ length: ROWS }, () => `[${embedding().join(',')}]`);
    await t.db.query(
      `INSERT INTO memory.memory_entries (namespace, content, embedding)
       SELECT 'a', 'bench ' || i, v::vector FROM unnest($1::text[]) WITH ORDINALITY AS x(v, i)`,
      [vectors],
    );
    await t.db.query('ANALYZE memory.memory_entries');
    const endpoint = { host: '127.0.0.1', port: t.cluster.coordinator.port, database: 'postgres' };
    const session = await openAgent(findAgent(agentsFromManifests(t.set), 'agent-a'), {
      endpoint,
      secret: t.secret,
      log: silentLogger(),
      metrics: createMcpMetrics(new Registry()),
      withToken: false,
      poolSize: 1,
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await session.newServer().connect(serverSide);
    const client = new Client({ name: 'pgmesh-mcp-bench', version: '1' });
    await client.connect(clientSide);
    const pool = new pg.Pool({
      ...endpoint,
      user: 'agent_a',
      password: await t.secret('pgmesh-mcp-agent-a'),
      max: 1,
    });
    pool.on('error', () => {});
    const run = await measureSearchLatency({
      client,
      pool,
      namespace: 'a',
      k: 10,
      runs: RUNS,
      warmup: 100,
      embedding,
    });
    const report = latencyReport(run);
    process.stdout.write(`${latencyLine(`mcp bench: namespace top-10 of ${ROWS} rows`, report)}\n`);
    // The MCP layer alone, in the same run: the same tool over the same protocol with the
    // database answered from memory (the rows of one real search), so the cost of the
    // protocol, validation, marking, audit and metrics shows apart from the box's load.
    const rows = (
      await session.ctx.db.query(
        searchSql({
          table: 'memory_entries',
          namespaces: ['a'],
          embedding: embedding(),
          k: 10,
          distance: 'cosine',
        })
          .text.replace('$1', "'a'")
          .replace(/\$2/g, `'[${embedding().join(',')}]'`),
      )
    ).rows;
    const stub = {
      ...session.ctx,
      db: { query: async () => ({ rows, rowCount: rows.length }) } as never,
    };
    const stubServer = createMcpServer({
      ctx: stub,
      limiter: { take() {} },
      audit: session.audit,
      metrics: createMcpMetrics(new Registry()),
      log: silentLogger(),
    });
    const [c2, s2] = InMemoryTransport.createLinkedPair();
    await stubServer.connect(s2);
    const stubClient = new Client({ name: 'pgmesh-mcp-bench-stub', version: '1' });
    await stubClient.connect(c2);
    const layer: number[] = [];
    for (let i = 0; i < RUNS + 100; i++) {
      const started = performance.now();
      await stubClient.callTool({
        name: 'memory_search',
        arguments: { namespace: 'a', embedding: embedding(), k: 10 },
      });
      if (i >= 100) layer.push(performance.now() - started);
    }
    const layerS = summarize(layer);
    process.stdout.write(
      `mcp bench: the MCP layer alone (database answered from memory): p50 ${layerS.p50.toFixed(3)} ms max ${Math.max(...layer).toFixed(3)} ms\n`,
    );
    await stubClient.close();
    process.stdout.write(
      `${JSON.stringify({ ...report, mismatches: run.mismatches, layerP50: layerS.p50, layerMax: Math.max(...layer) })}\n`,
    );
    await client.close();
    await session.close();
    await pool.end();
    if (run.mismatches > 0 || report.addedP50 > 1) process.exitCode = 1;
  } finally {
    await t.stop();
  }
}

void main();
