/**
 * The latency comparison of bench/mcp-bench.ts (and its smoke in the MCP integration
 * test): a namespace top-k through an MCP tool vs the very same statement over SQL as the
 * same role, interleaved in every order, after a warm-up. Returns milliseconds.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type pg from 'pg';
import { summarize } from '../../agent/bench/stats.js';
import { readData } from '../../agent/mcp/mark.js';
import { searchSql } from '../../agent/mcp/store.js';

export interface LatencyRun {
  sql: number[];
  tool: number[];
  /** Runs where the tool and SQL returned different ids (must be 0). */
  mismatches: number;
}

export interface LatencyReport {
  runs: number;
  sql: { p50: number; max: number };
  tool: { p50: number; max: number };
  addedP50: number;
  ratioP50: number;
}

export async function measureSearchLatency(o: {
  client: Client;
  pool: pg.Pool;
  namespace: string;
  k: number;
  runs: number;
  warmup?: number;
  embedding: () => number[];
}): Promise<LatencyRun> {
  const out: LatencyRun = { sql: [], tool: [], mismatches: 0 };
  const total = (o.warmup ?? 20) + o.runs;
  for (let i = 0; i < total; i++) {
    const q = o.embedding();
    const s = searchSql({
      table: 'memory_entries',
      namespaces: [o.namespace],
      embedding: q,
      k: o.k,
      distance: 'cosine',
    });
    const ids: Record<string, string> = {};
    // Alternate which goes first, so neither always finds the other's cached pages.
    for (const which of i % 2 === 0 ? ['sql', 'tool'] : ['tool', 'sql']) {
      const started = performance.now();
      if (which === 'sql') {
        const r = await o.pool.query<{ id: string }>(s.text, s.values);
        if (i >= total - o.runs) out.sql.push(performance.now() - started);
        ids.sql = r.rows.map((x) => x.id).join(',');
      } else {
        const r = (await o.client.callTool({
          name: 'memory_search',
          arguments: { namespace: o.namespace, embedding: q, k: o.k },
        })) as CallToolResult;
        if (i >= total - o.runs) out.tool.push(performance.now() - started);
        const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
        ids.tool = (readData(text) as Array<{ id: string }>).map((x) => x.id).join(',');
      }
    }
    if (ids.sql !== ids.tool) out.mismatches++;
  }
  return out;
}

export function latencyReport(r: LatencyRun): LatencyReport {
  const sql = summarize(r.sql);
  const tool = summarize(r.tool);
  return {
    runs: r.sql.length,
    sql: { p50: sql.p50, max: Math.max(...r.sql) },
    tool: { p50: tool.p50, max: Math.max(...r.tool) },
    addedP50: tool.p50 - sql.p50,
    ratioP50: tool.p50 / sql.p50,
  };
}

export function latencyLine(label: string, r: LatencyReport): string {
  const f = (x: number) => x.toFixed(3);
  return `${label} (${r.runs} runs): sql p50 ${f(r.sql.p50)} ms max ${f(r.sql.max)} ms; tool p50 ${f(r.tool.p50)} ms max ${f(r.tool.max)} ms; added at p50 ${f(r.addedP50)} ms; ratio ${r.ratioP50.toFixed(2)}`;
}
