/**
 * What `pgmesh mcp` serves: the McpClient documents of a manifest set as agents (pure),
 * and the secrets and connections they need (read at start, never logged).
 */
import pg from 'pg';
import { PgmeshError } from '../core/errors.js';
import { mcpClientRoles } from '../manifests/kinds.js';
import type { ManifestSet, McpClientManifest, McpLimits } from '../manifests/types.js';

export interface McpAgent {
  /** The McpClient's metadata.name. */
  name: string;
  role: string;
  /** `<role>_ro` when `allow.sql`. */
  sqlRole: string | null;
  read: readonly string[];
  write: readonly string[];
  allow: { update: boolean; delete: boolean; sql: boolean };
  limits: McpLimits;
  passwordSecret: string;
  tokenSecret: string;
}

export function agentsFromManifests(set: ManifestSet): McpAgent[] {
  return set.documents
    .map((d) => d.manifest)
    .filter((m): m is McpClientManifest => m.kind === 'McpClient')
    .map((m) => ({
      name: m.metadata.name,
      role: m.spec.role,
      sqlRole: mcpClientRoles(m)[1] ?? null,
      read: [...m.spec.namespaces.read],
      write: [...m.spec.namespaces.write],
      allow: { ...m.spec.allow },
      limits: { ...m.spec.limits },
      passwordSecret: m.spec.passwordSecret,
      tokenSecret: m.spec.tokenSecret,
    }));
}

export function findAgent(agents: readonly McpAgent[], name: string): McpAgent {
  const a = agents.find((x) => x.name === name);
  if (!a) {
    throw new PgmeshError(
      'PGMESH_MCP_CONFIG',
      `no McpClient named ${JSON.stringify(name)} in the manifests (known: ${agents.map((x) => x.name).join(', ') || 'none'})`,
    );
  }
  return a;
}

/** Where the server connects: the cluster's single read-write endpoint. */
export interface McpEndpoint {
  host: string;
  port: number;
  database: string;
}

/**
 * A pool for one role. The password stays in the pool's options (node-postgres keeps it
 * non-enumerable); an idle connection that dies is dropped by the pool, not fatal.
 */
export function rolePool(
  endpoint: McpEndpoint,
  user: string,
  password: string,
  options: { max?: number; application?: string } = {},
): pg.Pool {
  const pool = new pg.Pool({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user,
    password,
    max: options.max ?? 4,
    application_name: options.application ?? 'pgmesh-mcp',
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => {});
  return pool;
}
