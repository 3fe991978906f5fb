/**
 * The Streamable HTTP transport for remote agents: POST /mcp with `Authorization: Bearer
 * <token>`; the token says which agent (and so which role) the request is served as.
 * Stateless: each request gets a fresh MCP server over the agent's shared pools, so
 * nothing of one request survives into another. GET /metrics (any agent's token) and
 * GET /healthz. Built by one function and started by another, so tests run it on port 0.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { safeEqual } from '../server/secrets.js';
import type { AgentSession } from './session.js';

export interface McpHttpOptions {
  sessions: readonly AgentSession[];
  registry: Registry;
  log: Logger;
  /** Largest request body (default 4 MiB). */
  maxBodyBytes?: number;
}

/** The agent whose token the request carries (every token compared, in constant time). */
export function sessionFor(
  sessions: readonly AgentSession[],
  header: string | undefined,
): AgentSession | null {
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return null;
  let found: AgentSession | null = null;
  for (const s of sessions) {
    if (s.token !== null && safeEqual(s.token, m[1]!)) found = s;
  }
  return found;
}

async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req) {
    n += (chunk as Buffer).length;
    if (n > max) throw Object.assign(new Error(`request body above ${max} bytes`), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { status: 400 });
  }
}

export function buildMcpHttp(o: McpHttpOptions): HttpServer {
  const max = o.maxBodyBytes ?? 4 << 20;
  return createServer((req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/healthz') return send(200, { ok: true });
      const session = sessionFor(o.sessions, req.headers.authorization);
      if (!session) {
        o.log.warn(
          { route: url.pathname, ip: req.socket.remoteAddress },
          'mcp request unauthorized',
        );
        return send(
          401,
          { error: 'PGMESH_UNAUTHORIZED', message: 'a valid bearer token is required' },
          { 'www-authenticate': 'Bearer' },
        );
      }
      if (url.pathname === '/metrics' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': o.registry.contentType });
        return res.end(await o.registry.metrics());
      }
      if (url.pathname !== '/mcp') return send(404, { error: 'not found' });
      if (req.method !== 'POST') {
        // Stateless: no server-sent event stream to resume, no session to delete.
        return send(405, { error: 'method not allowed' }, { allow: 'POST' });
      }
      const body = await readBody(req, max);
      const server = session.newServer();
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      const status = (err as { status?: number }).status ?? 500;
      if (status === 500) o.log.error({ err: (err as Error).message }, 'mcp http request failed');
      if (!res.headersSent) send(status, { error: (err as Error).message });
      else res.end();
    });
  });
}

/** Listens; returns the URL of the MCP endpoint (port 0 picks a free port). */
export async function startMcpHttp(
  server: HttpServer,
  options: { host?: string; port?: number } = {},
): Promise<string> {
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8090, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/mcp`;
}
