/**
 * Which cluster the bench and `pgmesh load` talk to: from a manifests folder (default: the
 * repository's manifests/, the standard `pgmesh` cluster), or a cluster name and ports.
 * The password comes from the CLI's state dir (or the coordinator's secret) and stays in
 * the pg client's config: never in an argument, a log line or an error.
 */
import { join } from 'node:path';
import pg from 'pg';
import type { Docker } from '../docker/client.js';
import { loadManifestSet } from '../manifests/load.js';
import type { ClusterManifest } from '../manifests/types.js';
import { repoRoot } from '../cli/host.js';
import { readPassword } from '../cli/state.js';

export interface TargetFlags {
  manifests?: string;
  cluster?: string;
  port?: string;
  readOnlyPort?: string;
  database?: string;
}

export interface ClusterTarget {
  manifest: ClusterManifest;
  name: string;
  host: string;
  readWritePort: number;
  readOnlyPort: number;
  database: string;
  /** A new client through HAProxy (read-write or read-only port). */
  connect(endpoint?: 'read-write' | 'read-only'): Promise<pg.Client>;
}

function port(flag: string | undefined, fallback: number, name: string): number {
  if (flag === undefined) return fallback;
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`--${name}: ${JSON.stringify(flag)} is not a port number`);
  }
  return n;
}

export async function resolveTarget(docker: Docker, flags: TargetFlags): Promise<ClusterTarget> {
  const set = await loadManifestSet(flags.manifests ?? join(repoRoot(), 'manifests'));
  const m = structuredClone(set.cluster) as ClusterManifest;
  if (flags.cluster) m.metadata.name = flags.cluster;
  m.spec.haproxy.ports.readWrite = port(flags.port, m.spec.haproxy.ports.readWrite, 'port');
  m.spec.haproxy.ports.readOnly = port(
    flags.readOnlyPort,
    m.spec.haproxy.ports.readOnly,
    'read-only-port',
  );
  if (flags.database) m.spec.postgres.database = flags.database;
  const password = await readPassword(docker, m);
  const target: ClusterTarget = {
    manifest: m,
    name: m.metadata.name,
    host: '127.0.0.1',
    readWritePort: m.spec.haproxy.ports.readWrite,
    readOnlyPort: m.spec.haproxy.ports.readOnly,
    database: m.spec.postgres.database,
    async connect(endpoint = 'read-write') {
      const client = new pg.Client({
        host: target.host,
        port: endpoint === 'read-write' ? target.readWritePort : target.readOnlyPort,
        user: 'postgres',
        password,
        database: target.database,
        connectionTimeoutMillis: 10_000,
        application_name: 'pgmesh-bench',
      });
      // A dead connection surfaces as the failed query's error, never as a crash.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
  };
  return target;
}
