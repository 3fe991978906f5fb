/**
 * One agent's live parts: its pools (its role; `<role>_ro` with allow.sql), the embedding
 * dimensions read once, its rate limiter and audit sink, and a factory of MCP servers
 * (stdio uses one; the HTTP transport makes one per request).
 */
import type pg from 'pg';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Logger } from '../core/log.js';
import { auditSink, type AuditSink, type McpMetrics } from './audit.js';
import { rolePool, type McpAgent, type McpEndpoint } from './config.js';
import { tokenBucket } from './limits.js';
import { createMcpServer } from './server.js';
import { embeddingDims } from './store.js';
import type { ToolContext } from './tools.js';

export interface AgentSession {
  agent: McpAgent;
  /** Bearer token of the HTTP transport (null over stdio). Kept out of logs. */
  token: string | null;
  ctx: ToolContext;
  audit: AuditSink;
  newServer(): Server;
  close(): Promise<void>;
}

export interface OpenOptions {
  endpoint: McpEndpoint;
  /** A secret's value by its Swarm secret name. */
  secret(name: string): Promise<string>;
  log: Logger;
  metrics: McpMetrics;
  withToken: boolean;
  status?: () => Promise<unknown>;
  drift?: () => Promise<unknown>;
  /** Connections per pool (default 4). */
  poolSize?: number;
}

export async function openAgent(agent: McpAgent, o: OpenOptions): Promise<AgentSession> {
  const password = await o.secret(agent.passwordSecret);
  const token = o.withToken ? await o.secret(agent.tokenSecret) : null;
  const pool: pg.Pool = rolePool(o.endpoint, agent.role, password, {
    max: o.poolSize ?? 4,
    application: `pgmesh-mcp:${agent.name}`,
  });
  const sqlPool =
    agent.allow.sql && agent.sqlRole
      ? rolePool(o.endpoint, agent.sqlRole, password, {
          max: 2,
          application: `pgmesh-mcp-sql:${agent.name}`,
        })
      : null;
  try {
    const dims = await embeddingDims(pool);
    const ctx: ToolContext = {
      agent,
      db: pool,
      sqlDb: sqlPool,
      dims,
      ...(o.status ? { status: o.status } : {}),
      ...(o.drift ? { drift: o.drift } : {}),
    };
    const audit = auditSink(pool, o.log);
    const limiter = tokenBucket(agent.limits.callsPerSecond, agent.limits.burst);
    const log = o.log.child({ client: agent.name });
    return {
      agent,
      token,
      ctx,
      audit,
      newServer: () => createMcpServer({ ctx, limiter, audit, metrics: o.metrics, log }),
      async close() {
        await audit.close();
        await pool.end();
        await sqlPool?.end();
      },
    };
  } catch (err) {
    await pool.end();
    await sqlPool?.end();
    throw err;
  }
}
