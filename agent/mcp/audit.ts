/**
 * Every tool call is audited: a row in pgmesh.mcp_audit (written through
 * pgmesh_mcp.audit as the agent's own role, so `who` is the login role) and the metrics.
 * Rows are buffered and written in batches off the tool's path (a tool call does not
 * wait for its audit row); close() writes what is left. Rows of a process that is killed
 * before a flush are lost; the metrics count them anyway.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { Queryable } from './store.js';

export interface AuditRow {
  at: string;
  tool: string;
  namespace: string | null;
  rows: number | null;
  durationMs: number;
  ok: boolean;
  error: string | null;
}

export interface McpMetrics {
  calls: Counter<'client' | 'tool' | 'outcome'>;
  duration: Histogram<'client' | 'tool'>;
  rows: Counter<'client' | 'tool'>;
}

export function createMcpMetrics(registry: Registry, prefix = 'pgmesh_mcp_'): McpMetrics {
  return {
    calls: new Counter({
      name: `${prefix}tool_calls_total`,
      help: 'MCP tool calls by client, tool and outcome (ok or the error code)',
      labelNames: ['client', 'tool', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: `${prefix}tool_call_duration_seconds`,
      help: 'Duration of MCP tool calls',
      labelNames: ['client', 'tool'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    rows: new Counter({
      name: `${prefix}tool_rows_total`,
      help: 'Rows read or written by MCP tool calls',
      labelNames: ['client', 'tool'],
      registers: [registry],
    }),
  };
}

export interface AuditSink {
  record(row: AuditRow): void;
  /** Writes the buffered rows now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function auditSink(
  db: Queryable,
  log: Logger,
  options: { intervalMs?: number; batch?: number } = {},
): AuditSink {
  let buffer: AuditRow[] = [];
  let writing: Promise<void> = Promise.resolve();
  const batch = options.batch ?? 200;
  const flush = (): Promise<void> => {
    if (buffer.length === 0) return writing;
    const rows = buffer;
    buffer = [];
    writing = writing.then(async () => {
      try {
        await db.query('SELECT pgmesh_mcp.audit($1::jsonb)', [JSON.stringify(rows)]);
      } catch (err) {
        log.error({ rows: rows.length, err: (err as Error).message }, 'mcp audit write failed');
      }
    });
    return writing;
  };
  const timer = setInterval(() => void flush(), options.intervalMs ?? 250);
  timer.unref();
  return {
    record(row) {
      buffer.push(row);
      if (buffer.length >= batch) void flush();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
