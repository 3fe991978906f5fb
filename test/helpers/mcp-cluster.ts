/**
 * A small engine cluster for the MCP tests: a coordinator and two workers (containers of
 * test/helpers/pg-containers.ts) with password authentication for every role but the
 * superuser's local use, the memory schema from manifests/memory.yaml (small vectors,
 * few shards) and McpClient documents, converged by the real shards backend.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  coordinatorFromUrl,
  desiredFromManifests,
  observeShards,
  planShards,
  shardsBackend,
  type ShardsContext,
} from '../../agent/backends/shards/index.js';
import { silentLogger } from '../../agent/core/log.js';
import { parseManifestSetFromFiles } from '../../agent/manifests/index.js';
import type { ManifestSet } from '../../agent/manifests/types.js';
import { startPgCluster, type PgCluster } from './pg-containers.js';
import { REPO } from './cli.js';

const run = promisify(execFile);

export const MCP_DIMS = 8;
export const WORKER_PASSWORD = 'w0rker-pw-for-tests';

export interface McpTestCluster {
  cluster: PgCluster;
  /** Superuser on the coordinator. */
  db: pg.Client;
  set: ManifestSet;
  /** Folder of the manifests (for `pgmesh mcp --manifests`). */
  manifestsDir: string;
  /** Folder of secret files named like the Swarm secrets. */
  secretsDir: string;
  secret(name: string): Promise<string>;
  ctx: ShardsContext;
  /** Plans and applies until the plan is empty; returns the action kinds per round. */
  converge(): Promise<string[][]>;
  stop(): Promise<void>;
}

export const MCP_CLIENTS_YAML = `apiVersion: pgmesh.io/v1
kind: McpClient
metadata: { name: agent-a }
spec:
  role: agent_a
  passwordSecret: pgmesh-mcp-agent-a
  tokenSecret: pgmesh-mcp-agent-a-token
  namespaces: { read: [shared], write: [a] }
  allow: { update: true, delete: true, sql: true }
  limits: { callsPerSecond: 100000, burst: 100000, maxContentBytes: 4096, maxMetadataBytes: 1024, maxResults: 50, sqlTimeoutMs: 500 }
---
apiVersion: pgmesh.io/v1
kind: McpClient
metadata: { name: agent-b }
spec:
  role: agent_b
  passwordSecret: pgmesh-mcp-agent-b
  tokenSecret: pgmesh-mcp-agent-b-token
  namespaces: { write: [b, shared] }
  limits: { callsPerSecond: 200, burst: 20 }
`;

function clusterYaml(): string {
  return `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: pgmtest
spec:
  coordinator:
    members: 1
  workerGroups:
    - { name: w1, members: 1 }
    - { name: w2, members: 1 }
`;
}

/** pg_hba: the superuser keeps trust (the test's own access), every other role a password. */
async function requirePasswords(
  container: string,
  superuserPassword: string | null,
): Promise<void> {
  const script = [
    "printf 'local all all trust\\nhost all postgres 127.0.0.1/32 trust\\n' > /pgdata/d/pg_hba.new",
    superuserPassword
      ? "printf 'host all all all scram-sha-256\\nhost replication all all trust\\n' >> /pgdata/d/pg_hba.new"
      : "printf 'host all postgres all trust\\nhost all all all scram-sha-256\\nhost replication all all trust\\n' >> /pgdata/d/pg_hba.new",
    'mv /pgdata/d/pg_hba.new /pgdata/d/pg_hba.conf',
    ...(superuserPassword
      ? [`psql -qXc "ALTER ROLE postgres PASSWORD '${superuserPassword}'"`]
      : []),
    "psql -qXc 'SELECT pg_reload_conf()'",
  ].join(' && ');
  await run('docker', ['exec', '-u', 'postgres', container, 'sh', '-c', script]);
}

export async function startMcpCluster(
  prefix: string,
  options: { repo?: string; image?: string } = {},
): Promise<McpTestCluster> {
  const repo = options.repo ?? REPO;
  const image = options.image ?? process.env.PGMTEST_ENGINE_IMAGE;
  const cluster = await startPgCluster({
    prefix,
    workers: 2,
    // Default: the engine test image built from the tree; an override saves a build.
    ...(image ? { image } : {}),
  });
  // Workers: every role, the superuser included, authenticates with a password (what
  // postgres_fdw demands of a non-superuser's user mapping). Coordinator: the test's
  // superuser keeps trust; the agents' roles need their passwords.
  for (const w of cluster.workers) await requirePasswords(w.name, WORKER_PASSWORD);
  await requirePasswords(cluster.coordinator.name, null);

  const secretsDir = await mkdtemp(path.join(tmpdir(), 'pgmtest-mcp-secrets-'));
  const secrets: Record<string, string> = {
    'pgmesh-worker-password': WORKER_PASSWORD,
    'pgmesh-role-app': 'app-pw-1',
    'pgmesh-role-readonly': 'readonly-pw-1',
    'pgmesh-role-mcp': 'mcp-pw-1',
    'pgmesh-mcp-agent-a': 'agent-a-pw-1',
    'pgmesh-mcp-agent-a-token': 'token-of-agent-a-0123456789',
    'pgmesh-mcp-agent-b': 'agent-b-pw-1',
    'pgmesh-mcp-agent-b-token': 'token-of-agent-b-9876543210',
  };
  for (const [name, value] of Object.entries(secrets)) {
    await writeFile(path.join(secretsDir, name), `${value}\n`, { mode: 0o600 });
  }
  const memoryYaml = (await readFile(path.join(repo, 'manifests/memory.yaml'), 'utf8'))
    .replaceAll('vector(384)', `vector(${MCP_DIMS})`)
    .replaceAll('shardCount: 32', 'shardCount: 4');
  const manifestsDir = await mkdtemp(path.join(tmpdir(), 'pgmtest-mcp-manifests-'));
  const files = [
    { path: 'cluster.yaml', content: clusterYaml() },
    { path: 'memory.yaml', content: memoryYaml },
    { path: 'mcp-clients.yaml', content: MCP_CLIENTS_YAML },
  ];
  for (const f of files) await writeFile(path.join(manifestsDir, f.path), f.content);
  const set = parseManifestSetFromFiles(files);
  const ctx: ShardsContext = {
    connect: coordinatorFromUrl(cluster.coordinator.url),
    groupHosts: (g) => [`${prefix}-${g}`],
    workerDatabase: 'postgres',
    workerUser: 'postgres',
    workerPasswordFile: path.join(secretsDir, 'pgmesh-worker-password'),
    secretFile: (name) => path.join(secretsDir, name),
  };
  const db = new pg.Client({ connectionString: cluster.coordinator.url });
  db.on('error', () => {});
  await db.connect();
  const converge = async (): Promise<string[][]> => {
    const rounds: string[][] = [];
    for (let i = 0; i < 5; i++) {
      const plan = planShards(desiredFromManifests(set, ctx), await observeShards(ctx));
      if (plan.refusals.length) throw new Error(`refused: ${JSON.stringify(plan.refusals)}`);
      if (plan.actions.length === 0) return rounds;
      rounds.push(plan.actions.map((a) => a.action.kind));
      for (const a of plan.actions) await shardsBackend.apply(a, ctx, silentLogger());
    }
    throw new Error(`not converged: ${JSON.stringify(rounds)}`);
  };
  return {
    cluster,
    db,
    set,
    manifestsDir,
    secretsDir,
    secret: async (name) => secrets[name] ?? Promise.reject(new Error(`no secret ${name}`)),
    ctx,
    converge,
    stop: async () => {
      await db.end().catch(() => {});
      await cluster.stop();
      await rm(secretsDir, { recursive: true, force: true });
      await rm(manifestsDir, { recursive: true, force: true });
    },
  };
}
