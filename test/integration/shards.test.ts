/**
 * The shards backend against real PostgreSQL 17 containers with the engine (the image of
 * test/helpers/pg-containers.ts): from the memory schema manifests, plan → apply → plan
 * again is empty; a third worker group is registered and shards move onto it with equal
 * row counts; a changed HNSW `m` rebuilds every shard's index while a reader runs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  coordinatorFromUrl,
  observeShards,
  planShards,
  desiredFromManifests,
  shardsBackend,
  type ShardsContext,
  type ShardsPlannedAction,
  type ShardsProgress,
} from '../../agent/backends/shards/index.js';
import { silentLogger } from '../../agent/core/log.js';
import { parseManifestSetFromFiles } from '../../agent/manifests/index.js';
import { ENGINE_TEST_IMAGE, type PgNode } from '../helpers/pg-containers.js';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIX = 'pgmtest-shards-it';
const DIMS = 64;
const SHARDS = 8;

// pg-containers.ts only accepts the `pgmtest-engine-` prefix; this suite names its
// containers `pgmtest-shards-*`, so it starts them the same way here.
async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

async function removeContainers(): Promise<void> {
  const ids = await docker(['ps', '-aq', '--filter', `name=^${PREFIX}-`]);
  if (ids) await docker(['rm', '-f', '-v', ...ids.split('\n')]).catch(() => '');
  await docker(['network', 'rm', `${PREFIX}-net`]).catch(() => '');
}

async function startNode(name: string, coordinator: boolean): Promise<PgNode> {
  const settings = [
    'shared_buffers=32MB',
    'max_connections=60',
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
    'wal_level=logical',
    'max_wal_senders=20',
    'max_replication_slots=20',
    'max_logical_replication_workers=8',
    'max_worker_processes=16',
    'listen_addresses=*',
    'max_locks_per_transaction=256',
    ...(coordinator ? ['shared_preload_libraries=pgmesh'] : []),
  ];
  const script = [
    'set -e',
    'initdb -D /pgdata/d -U postgres --auth=trust --no-sync >/dev/null',
    'echo "host all all all trust" >> /pgdata/d/pg_hba.conf',
    'echo "host replication all all trust" >> /pgdata/d/pg_hba.conf',
    'exec postgres -D /pgdata/d "$@"',
  ].join('\n');
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '--hostname',
    name,
    '--network',
    `${PREFIX}-net`,
    '--label',
    'pgmtest-shards=1',
    '--tmpfs',
    '/pgdata:uid=100,gid=102,mode=0700',
    '--shm-size',
    '128m',
    '-p',
    '127.0.0.1::5432',
    ENGINE_TEST_IMAGE,
    'sh',
    '-c',
    script,
    'sh',
    ...settings.flatMap((s) => ['-c', s]),
  ]);
  const out = await docker(['port', name, '5432/tcp']);
  const port = Number(/:(\d+)\s*$/m.exec(out.split('\n')[0] ?? '')?.[1]);
  return { name, port, url: `postgres://postgres@127.0.0.1:${port}/postgres` };
}

async function awaitReady(node: PgNode): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      const c = new pg.Client({ connectionString: node.url });
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

let coord: PgNode;
const workers: PgNode[] = [];
let db: pg.Client;
let secrets: string;
let memoryYaml: string;
const progress: ShardsProgress[] = [];
let ctx: ShardsContext;

function clusterYaml(groups: string[]): string {
  return `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: pgmtest
spec:
  coordinator:
    members: 1
  workerGroups:
${groups.map((g) => `    - { name: ${g}, members: 1 }`).join('\n')}
`;
}

function manifests(groups: string[], memory = memoryYaml) {
  return parseManifestSetFromFiles([
    { path: 'cluster.yaml', content: clusterYaml(groups) },
    { path: 'memory.yaml', content: memory },
  ]);
}

async function planFor(groups: string[], memory = memoryYaml) {
  const desired = desiredFromManifests(manifests(groups, memory), ctx);
  const live = await observeShards(ctx);
  return { plan: planShards(desired, live), live };
}

async function applyAll(actions: ShardsPlannedAction[]): Promise<void> {
  for (const a of actions) await shardsBackend.apply(a, ctx, silentLogger());
}

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['memory_entries', 'patterns', 'graph_nodes', 'trajectories']) {
    const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM memory.${t}`);
    out[t] = Number(r.rows[0]?.n);
  }
  return out;
}

async function spreadOf(table: string): Promise<Record<string, number>> {
  const r = await db.query<{ group_name: string; n: string }>(
    'SELECT group_name, count(*) AS n FROM pgmesh.shards WHERE relid = $1::regclass GROUP BY 1 ORDER BY 1',
    [table],
  );
  return Object.fromEntries(r.rows.map((x) => [x.group_name, Number(x.n)]));
}

beforeAll(async () => {
  await removeContainers();
  await docker([
    'network',
    'create',
    '--driver',
    'bridge',
    '--label',
    'pgmtest-shards=1',
    `${PREFIX}-net`,
  ]);
  coord = await startNode(`${PREFIX}-coord`, true);
  for (const g of ['w1', 'w2', 'w3']) workers.push(await startNode(`${PREFIX}-${g}`, false));
  await Promise.all([coord, ...workers].map(awaitReady));
  db = new pg.Client({ connectionString: coord.url });
  db.on('error', () => {});
  await db.connect();

  secrets = await mkdtemp(path.join(tmpdir(), 'pgmtest-shards-secrets-'));
  for (const r of ['app', 'readonly', 'mcp']) {
    await writeFile(path.join(secrets, `pgmesh-role-${r}`), `s3cret-${r}-pw\n`);
  }
  memoryYaml = (await readFile(path.join(REPO, 'manifests/memory.yaml'), 'utf8'))
    .replaceAll('vector(384)', `vector(${DIMS})`)
    .replaceAll('shardCount: 32', `shardCount: ${SHARDS}`);
  ctx = {
    connect: coordinatorFromUrl(coord.url),
    groupHosts: (g) => [`${PREFIX}-${g}`],
    workerDatabase: 'postgres',
    secretFile: (name) => path.join(secrets, name),
    movePollMs: 100,
    onProgress: (p) => progress.push(p),
  };
}, 300_000);

afterAll(async () => {
  await db?.end().catch(() => {});
  await removeContainers();
  if (secrets) await rm(secrets, { recursive: true, force: true });
});

describe('shards backend against the engine', () => {
  it('plans the memory schema on two groups, applies it, then plans nothing', async () => {
    const { plan } = await planFor(['w1', 'w2']);
    expect(plan.refusals).toEqual([]);
    const kinds = plan.actions.map((a) => a.action.kind);
    expect(kinds).toEqual([
      'install-engine',
      'register-group',
      'register-group',
      'create-distributed-table',
      'create-distributed-table',
      'create-distributed-table',
      'create-distributed-table',
      'build-index',
      'build-index',
      'build-index',
      'build-index',
      'ensure-role',
      'ensure-role',
      'ensure-role',
    ]);
    expect(JSON.stringify(plan)).not.toContain('s3cret');
    await applyAll(plan.actions);

    const again = await planFor(['w1', 'w2']);
    expect(again.plan.refusals).toEqual([]);
    expect(again.plan.actions.map((a) => a.summary)).toEqual([]);
    expect(again.plan.drift.every((d) => d.state === 'in-sync')).toBe(true);
    expect(await spreadOf('memory.memory_entries')).toEqual({ w1: 4, w2: 4 });
    const app = again.live.roles.find((r) => r.name === 'app');
    expect(app).toMatchObject({
      canLogin: true,
      passwordSecret: 'pgmesh-role-app',
      passwordInSync: true,
    });
    expect(app?.tablePrivileges['memory.memory_entries']).toEqual([
      'DELETE',
      'INSERT',
      'SELECT',
      'UPDATE',
    ]);
    const mcp = again.live.roles.find((r) => r.name === 'mcp');
    expect(mcp?.tablePrivileges['memory.patterns']).toEqual(['INSERT', 'SELECT']);
    // Every shard has its HNSW index, from the manifest's parameters.
    const idx = again.live.indexes.filter((i) => i.method === 'hnsw');
    expect(idx).toHaveLength(4 * SHARDS);
    expect(idx.every((i) => i.valid && i.m === 16 && i.efConstruction === 64)).toBe(true);

    // Rows to move later: 24 namespaces, one per statement (one worker group per transaction).
    for (let n = 0; n < 24; n++) {
      await db.query(
        `INSERT INTO memory.memory_entries (namespace, content, embedding)
         SELECT $1, 'e' || i, (SELECT array_agg(sin(i * 7 + d + $2))::vector FROM generate_series(1, ${DIMS}) d)
           FROM generate_series(1, 12) i`,
        [`ns-${n}`, n],
      );
      await db.query(`INSERT INTO memory.patterns (namespace, name) VALUES ($1, 'p')`, [`ns-${n}`]);
      await db.query(`INSERT INTO memory.trajectories (namespace, task) VALUES ($1, 't')`, [
        `ns-${n}`,
      ]);
    }
  });

  it('registers a third group and moves shards onto it until balanced, rows intact', async () => {
    const before = await counts();
    const { plan } = await planFor(['w1', 'w2', 'w3']);
    expect(plan.refusals).toEqual([]);
    const kinds = plan.actions.map((a) => a.action.kind);
    expect(kinds[0]).toBe('register-group');
    expect(kinds.slice(1).every((k) => k === 'move-shard')).toBe(true);
    expect(kinds.length).toBe(1 + 4); // 8 → 3/3/2 for each of the two co-location groups
    expect(plan.actions.filter((a) => a.risk === 'data-moving')).toHaveLength(4);
    expect(new Set(plan.actions.map((a) => a.key)).size).toBe(plan.actions.length);
    const placement = plan.drift.find((d) => d.resource === 'placement/memory.graph_nodes');
    expect(placement?.differences[0]).toMatchObject({
      field: 'shardsPerGroup',
      live: { w1: 4, w2: 4, w3: 0 },
      desired: { w1: 3, w2: 3, w3: 2 },
    });

    progress.length = 0;
    await applyAll(plan.actions);
    const done = progress.filter((p) => p.action === 'move-shard' && p.step === 'moved');
    expect(done.map((p) => `${p.done}/${p.total}`)).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(done.at(-1)?.etaMs).toBe(0);
    expect(done.at(-1)?.bytesDone).toBe(done.at(-1)?.bytesTotal);

    expect(await spreadOf('memory.memory_entries')).toEqual({ w1: 3, w2: 3, w3: 2 });
    expect(await spreadOf('memory.trajectories')).toEqual({ w1: 3, w2: 3, w3: 2 });
    expect(await counts()).toEqual(before);
    const again = await planFor(['w1', 'w2', 'w3']);
    expect(again.plan.actions.map((a) => a.summary)).toEqual([]);
    expect(again.plan.refusals).toEqual([]);
  });

  it('rebuilds every shard index when m changes, while a reader sees no error', async () => {
    const changed = memoryYaml.replace(/(name: memory-entries-embedding[\s\S]*?)m: 16/, '$1m: 24');
    const { plan } = await planFor(['w1', 'w2', 'w3'], changed);
    expect(plan.actions.map((a) => a.action.kind)).toEqual(['build-index']);
    const drift = plan.drift.find((d) => d.resource === 'index/memory.memory_entries.embedding');
    expect(drift?.differences[0]).toEqual({ field: 'm', desired: 24, live: [16] });

    const reader = new pg.Client({ connectionString: coord.url });
    reader.on('error', () => {});
    await reader.connect();
    let stop = false;
    let reads = 0;
    const errors: string[] = [];
    const loop = (async () => {
      while (!stop) {
        try {
          await reader.query(
            `SELECT id FROM memory.memory_entries WHERE namespace = $1
              ORDER BY embedding <=> (SELECT array_agg(cos(d))::vector FROM generate_series(1, ${DIMS}) d) LIMIT 5`,
            [`ns-${reads % 24}`],
          );
          reads++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    })();
    await applyAll(plan.actions);
    stop = true;
    await loop;
    await reader.end();
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);

    // Every shard: one valid HNSW index on embedding, with m = 24, read on the workers.
    for (const w of workers) {
      const c = new pg.Client({ connectionString: w.url });
      await c.connect();
      const r = await c.query<{ shard: string; n: string; opts: string }>(
        `SELECT t.relname AS shard, count(*) AS n, string_agg(i.reloptions::text, ';') AS opts
           FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
           JOIN pg_am am ON am.oid = i.relam
          WHERE t.relnamespace = 'pgmesh_shards'::regnamespace AND am.amname = 'hnsw'
            AND t.relname LIKE 'memory_memory_entries_%' AND ix.indisvalid
          GROUP BY 1`,
      );
      await c.end();
      for (const row of r.rows) {
        expect(row.n, row.shard).toBe('1');
        expect(row.opts, row.shard).toBe('{m=24,ef_construction=64}');
      }
    }
    const again = await planFor(['w1', 'w2', 'w3'], changed);
    expect(again.plan.actions.map((a) => a.summary)).toEqual([]);
    const remembered = again.live.shardCommands.filter((c) => c.table === 'memory.memory_entries');
    expect(remembered).toHaveLength(1);
    expect(remembered[0]?.command).toContain('WITH (m = 24, ef_construction = 64)');
  });
});
