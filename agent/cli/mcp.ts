/**
 * `pgmesh mcp`: the MCP server over the memory store. Over stdio it serves one agent
 * (`--client`); with `--http` it serves every McpClient of the manifests (or those named)
 * on Streamable HTTP, each behind its own bearer token. It connects through the cluster's
 * single endpoint as each agent's own role, never as the superuser.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { readClusterStatus } from './health.js';
import { PgmeshError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { createDocker } from '../docker/client.js';
import { loadManifestSet } from '../manifests/load.js';
import { createMcpMetrics } from '../mcp/audit.js';
import { agentsFromManifests, findAgent, type McpEndpoint } from '../mcp/config.js';
import { buildMcpHttp, startMcpHttp } from '../mcp/http.js';
import { openAgent, type AgentSession } from '../mcp/session.js';
import { readSecretFile } from '../server/secrets.js';
import { callAgent } from './agent-api.js';
import { repoRoot } from './host.js';
import { info } from './output.js';
import { stateDir } from './state.js';

interface McpOptions {
  manifests?: string;
  client?: string[];
  http: boolean;
  host: string;
  port: string;
  secretsDir?: string;
  endpoint?: string;
  database?: string;
  cluster: boolean;
}

/**
 * A secret by its Swarm name: `--secrets-dir/<name>`, else /run/secrets/<name> (inside
 * the cluster), else the CLI's state dir, where `pgmesh up` keeps generated secrets
 * without the `<cluster>-` prefix.
 */
function secretReader(dir: string | undefined, cluster: string): (name: string) => Promise<string> {
  return async (name) => {
    const candidates = dir
      ? [join(dir, name)]
      : [
          join('/run/secrets', name),
          join(
            stateDir(cluster),
            name.startsWith(`${cluster}-`) ? name.slice(cluster.length + 1) : name,
          ),
        ];
    const file = candidates.find((f) => existsSync(f));
    if (!file) {
      throw new PgmeshError(
        'PGMESH_MCP_CONFIG',
        `secret ${name} not found (looked in ${candidates.join(', ')})`,
      );
    }
    return readSecretFile(file);
  };
}

function parseEndpoint(
  value: string | undefined,
  fallbackPort: number,
  database: string,
): McpEndpoint {
  if (!value) return { host: '127.0.0.1', port: fallbackPort, database };
  const m = /^(.+):(\d+)$/.exec(value);
  if (!m) throw new PgmeshError('PGMESH_MCP_CONFIG', `--endpoint ${value} is not host:port`);
  return { host: m[1]!, port: Number(m[2]), database };
}

export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description(
      'serve the memory store to AI agents over MCP (stdio, or Streamable HTTP with --http)',
    )
    .option('-m, --manifests <dir>', 'folder of manifests (default ./manifests of the repository)')
    .option('--client <name...>', 'McpClient to serve (stdio: exactly one; http: default all)')
    .option('--http', 'serve Streamable HTTP instead of stdio', false)
    .option('--host <host>', 'HTTP listen address', '127.0.0.1')
    .option('--port <port>', 'HTTP port', '8090')
    .option('--secrets-dir <dir>', 'folder of secret files named like the Swarm secrets')
    .option(
      '--endpoint <host:port>',
      "the cluster's read-write endpoint (default 127.0.0.1:<haproxy rw port>)",
    )
    .option('--database <name>', "database (default the Cluster's postgres.database)")
    .option('--no-cluster', 'no Docker/agent lookups for cluster_status and drift_report')
    .action(async (opts: McpOptions) => {
      const log = createLogger({
        level: process.env.PGMESH_LOG_LEVEL ?? 'warn',
        name: 'pgmesh-mcp',
      });
      const set = await loadManifestSet(opts.manifests ?? join(repoRoot(), 'manifests'));
      const m = set.cluster;
      const all = agentsFromManifests(set);
      const names = opts.client ?? (opts.http ? all.map((a) => a.name) : []);
      if (!opts.http && names.length !== 1) {
        throw new PgmeshError(
          'PGMESH_MCP_CONFIG',
          'over stdio, name exactly one agent with --client',
        );
      }
      const agents = names.map((n) => findAgent(all, n));
      const endpoint = parseEndpoint(
        opts.endpoint,
        m.spec.haproxy.ports.readWrite,
        opts.database ?? m.spec.postgres.database,
      );
      const registry = new Registry();
      const metrics = createMcpMetrics(registry);
      const docker = opts.cluster ? createDocker() : null;
      const sessions: AgentSession[] = [];
      for (const agent of agents) {
        sessions.push(
          await openAgent(agent, {
            endpoint,
            secret: secretReader(opts.secretsDir, m.metadata.name),
            log,
            metrics,
            withToken: opts.http,
            ...(docker
              ? {
                  status: () => readClusterStatus(docker, m),
                  drift: () => callAgent(docker, m, 'GET', '/api/drift'),
                }
              : {}),
          }),
        );
      }
      const closeAll = async (): Promise<void> => {
        for (const s of sessions) await s.close().catch(() => {});
      };
      if (opts.http) {
        const server = buildMcpHttp({ sessions, registry, log });
        const url = await startMcpHttp(server, { host: opts.host, port: Number(opts.port) });
        info(`pgmesh mcp: ${sessions.length} agent(s) on ${url}`);
        await new Promise<void>((resolve) => {
          for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
        });
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await closeAll();
        return;
      }
      const session = sessions[0]!;
      const server = session.newServer();
      const transport = new StdioServerTransport();
      await new Promise<void>((resolve) => {
        transport.onclose = () => resolve();
        process.stdin.once('end', () => resolve());
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
        void server.connect(transport);
      });
      await server.close().catch(() => {});
      await closeAll();
    });
}
