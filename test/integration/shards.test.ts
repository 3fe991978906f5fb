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
  shardsPerGroup,
  type ShardsContext,
  type ShardsPlannedAction,
  type ShardsProgress,
} from '../../agent/backends/shards/index.js';
import { silentLogger } from '../../agent/core/log.js';
import { parseManifestSetFromFiles } from '../../agent/manifests/index.js';
import { copiedBytes } from '../../agent/backends/shards/progress.js';
import { scramMatches } from '../../agent/backends/shards/scram.js';
import { drainWait } from '../../agent/backends/swarm/plan.js';
import { startPgCluster, type PgCluster, type PgNode } from '../helpers/pg-containers.js';

const run = promisify(execFile);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** PGMESH_ENGINE_PREFIX lets parallel checkouts run this file side by side. */
const PREFIX = process.env.PGMESH_ENGINE_PREFIX
  ? `${process.env.PGMESH_ENGINE_PREFIX}-shards`
  : 'pgmtest-engine-shards';
const DIMS = 64;
const SHARDS = 8;
// Above the analyze rule's 50-row floor, so every shard holding a namespace is re-analyzed.
const ROWS_PER_NAMESPACE = 60;

let cluster: PgCluster;
let coord: PgNode;
let workers: PgNode[] = [];
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
${groups
  .map((g) =>
    g.endsWith(':remove')
      ? `    - { name: ${g.slice(0, -7)}, members: 1, remove: true }`
      : `    - { name: ${g}, members: 1 }`,
  )
  .join('\n')}
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

/**
 * Plans and applies until nothing is left, as successive agent cycles would: what one
 * plan creates (tables, groups, moved shards) is observed, and acted on, by the next.
 */
async function converge(groups: string[], memory = memoryYaml, rounds = 4) {
  const kinds: string[][] = [];
  for (let i = 0; i < rounds; i++) {
    const { plan, live } = await planFor(groups, memory);
    expect(plan.refusals).toEqual([]);
    if (plan.actions.length === 0) return { plan, live, kinds };
    kinds.push(plan.actions.map((a) => a.action.kind));
    await applyAll(plan.actions);
  }
  throw new Error(`not converged after ${rounds} rounds: ${JSON.stringify(kinds)}`);
}

async function onWorker<T>(w: PgNode, user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: w.port,
    user,
    database: 'postgres',
    password: `s3cret-${user}-pw`,
  });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
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
  cluster = await startPgCluster({ prefix: PREFIX, workers: 3 });
  coord = cluster.coordinator;
  workers = cluster.workers;
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
  await cluster?.stop();
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

    // The next cycle sees the registered groups and the new partitions: the roles on
    // every group, and statistics for the (empty) partitions.
    const next = await converge(['w1', 'w2']);
    expect(next.kinds).toHaveLength(1);
    expect([...new Set(next.kinds[0])]).toEqual(['analyze', 'ensure-group-role']);
    expect(next.kinds[0]?.filter((k) => k === 'ensure-group-role')).toHaveLength(6);
    expect(next.kinds[0]?.filter((k) => k === 'analyze')).toHaveLength(4);
    const again = next;
    expect(again.plan.drift.filter((d) => d.state !== 'in-sync')).toEqual([]);
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
           FROM generate_series(1, ${ROWS_PER_NAMESPACE}) i`,
        [`ns-${n}`, n],
      );
      await db.query(`INSERT INTO memory.patterns (namespace, name) VALUES ($1, 'p')`, [`ns-${n}`]);
      await db.query(`INSERT INTO memory.trajectories (namespace, task) VALUES ($1, 't')`, [
        `ns-${n}`,
      ]);
    }
    // The workers' backends that took these inserts stay open behind the coordinator's
    // postgres_fdw connections, and an idle backend publishes its table statistics only
    // up to 10 s later (PostgreSQL's idle stats interval). Closing them publishes now, so
    // the statistics the ANALYZE test plans from are final, not a moment in between (one
    // CI run planned "nothing left to analyze", then a trajectories shard's row arrived).
    await db.query('SELECT postgres_fdw_disconnect_all()');
  });

  it('gives every role the coordinator’s verifier and its preset on every group’s shards', async () => {
    const shardOn = async (group: string, table = 'memory.memory_entries') => {
      const r = await db.query<{ shard_table: string }>(
        'SELECT shard_table FROM pgmesh.shards WHERE relid = $1::regclass AND group_name = $2 ORDER BY remainder LIMIT 1',
        [table, group],
      );
      return `pgmesh_shards.${pg.escapeIdentifier(r.rows[0]!.shard_table)}`;
    };
    const verifiers = async (node: PgNode) => {
      const c = new pg.Client({ connectionString: node.url });
      await c.connect();
      const r = await c.query<{ rolname: string; rolpassword: string }>(
        "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('app', 'readonly', 'mcp') ORDER BY 1",
      );
      await c.end();
      return r.rows;
    };
    const onCoordinator = await verifiers(coord);
    expect(onCoordinator.map((r) => r.rolname)).toEqual(['app', 'mcp', 'readonly']);
    for (const w of workers.slice(0, 2)) {
      const found = await verifiers(w);
      expect(found).toEqual(onCoordinator);
      for (const r of found)
        expect(scramMatches(r.rolpassword, `s3cret-${r.rolname}-pw`)).toBe(true);
    }

    // w1 checks the roles' passwords (SCRAM) from now on, as a real worker would.
    await run('docker', [
      'exec',
      '-u',
      'postgres',
      workers[0]!.name,
      'sh',
      '-c',
      "sed -i '1i host all app,readonly,mcp all scram-sha-256' /pgdata/d/pg_hba.conf",
    ]);
    await db.query("SELECT pgmesh._query('w1', 'SELECT pg_reload_conf()::text')");
    const entries = await shardOn('w1');
    const patterns = await shardOn('w1', 'memory.patterns');
    await onWorker(workers[0]!, 'readonly', async (c) => {
      await c.query(`SELECT count(*) FROM ${entries}`);
      await expect(
        c.query(`INSERT INTO ${patterns} SELECT * FROM ${patterns} LIMIT 0`),
      ).rejects.toThrow(/permission denied/);
      await expect(c.query(`UPDATE ${entries} SET content = 'x'`)).rejects.toThrow(
        /permission denied/,
      );
    });
    await expect(
      new pg.Client({
        host: '127.0.0.1',
        port: workers[0]!.port,
        user: 'readonly',
        database: 'postgres',
        password: 'wrong',
      }).connect(),
    ).rejects.toThrow(/password authentication failed/);
    await onWorker(workers[0]!, 'mcp', async (c) => {
      await c.query('BEGIN');
      // The privilege is checked whatever the row count (shard tables have no defaults).
      await c.query(`INSERT INTO ${patterns} SELECT * FROM ${patterns} LIMIT 0`);
      await expect(c.query(`DELETE FROM ${patterns}`)).rejects.toThrow(/permission denied/);
      await c.query('ROLLBACK');
    });
    await onWorker(workers[0]!, 'app', async (c) => {
      await c.query('BEGIN');
      await c.query(`UPDATE ${entries} SET content = content`);
      await c.query('ROLLBACK');
    });

    // Drift made on the worker directly is found and put right.
    await db.query('SELECT pgmesh._exec($1, $2)', [
      'w1',
      `GRANT INSERT, DELETE ON ${patterns} TO readonly; ALTER ROLE readonly PASSWORD 'changed-by-hand'`,
    ]);
    // (The rows loaded above may already be due for ANALYZE: the next test's subject.)
    const roleActions = async () =>
      (await planFor(['w1', 'w2'])).plan.actions.filter((a) => a.action.kind !== 'analyze');
    const { plan } = await planFor(['w1', 'w2']);
    const fix = await roleActions();
    expect(fix.map((a) => a.summary)).toEqual([
      'update role readonly on worker group w1 (preset readonly: password, tablePrivileges)',
    ]);
    expect(JSON.stringify(plan)).not.toMatch(/SCRAM|s3cret|changed-by-hand/);
    await applyAll(fix);
    expect(await verifiers(workers[0]!)).toEqual(onCoordinator);
    await onWorker(workers[0]!, 'readonly', async (c) => {
      await expect(c.query(`DELETE FROM ${patterns}`)).rejects.toThrow(/permission denied/);
    });
    expect(await roleActions()).toEqual([]);
  });

  it('analyzes a freshly loaded table; the routed namespace query then pushes ORDER BY ... LIMIT', async () => {
    // The rows loaded above: the partitions were analyzed while empty, their shards now
    // hold rows (the workers' statistics reach n_live_tup within seconds).
    const q = `[${Array.from({ length: DIMS }, (_, d) => Math.cos(d).toFixed(4)).join(',')}]`;
    const explain = async () =>
      (
        await db.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM memory.memory_entries
            WHERE namespace = 'ns-3' ORDER BY embedding <=> '${q}'::vector LIMIT 5`,
        )
      ).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    // Statistics from when the shards were empty: routed, but sorted on the coordinator.
    expect(await explain()).not.toMatch(/Remote SQL: .* LIMIT/);
    let analyze: ShardsPlannedAction[] = [];
    for (let i = 0; i < 60 && analyze.length === 0; i++) {
      const { plan } = await planFor(['w1', 'w2']);
      analyze = plan.actions.filter(
        (a) => a.action.kind === 'analyze' && a.action.table === 'memory.memory_entries',
      );
      if (analyze.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(analyze.map((a) => a.summary)).toContainEqual(
      expect.stringMatching(
        /^analyze \d+ foreign partition\(s\) of memory\.memory_entries \(rows changed\)$/,
      ),
    );
    await applyAll(analyze);
    // As the agent does cycle after cycle: a shard whose row count the worker had not yet
    // published is analyzed in a later plan; until nothing is left to analyze.
    for (let i = 0; i < 60; i++) {
      const { plan } = await planFor(['w1', 'w2']);
      // Every table: those with one row per namespace were analyzed while empty too.
      const more = plan.actions.filter((a) => a.action.kind === 'analyze');
      const unanalyzed = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgmesh.shards s
           JOIN pg_class c ON c.relname = s.partition AND c.relnamespace = 'pgmesh_part'::regnamespace
          WHERE s.relid = 'memory.memory_entries'::regclass AND c.reltuples <= 0`,
      );
      if (more.length === 0 && unanalyzed.rows[0]!.n === 0) break;
      await applyAll(more);
      await new Promise((r) => setTimeout(r, 500));
    }

    const stats = await db.query<{ partition: string; reltuples: number; columns: string }>(
      `SELECT s.partition, c.reltuples::float8 AS reltuples,
              (SELECT count(*) FROM pg_statistic st WHERE st.starelid = c.oid) AS columns
         FROM pgmesh.shards s JOIN pg_class c ON c.relname = s.partition AND c.relnamespace = 'pgmesh_part'::regnamespace
        WHERE s.relid = 'memory.memory_entries'::regclass`,
    );
    expect(stats.rows).toHaveLength(SHARDS);
    for (const r of stats.rows) {
      const n = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM pgmesh_part.${pg.escapeIdentifier(r.partition)}`,
      );
      expect(r.reltuples, r.partition).toBe(Number(n.rows[0]?.n));
      if (r.reltuples > 0) expect(Number(r.columns), r.partition).toBeGreaterThan(0);
    }
    const text = await explain();
    expect(text).toMatch(/Remote SQL: SELECT .* ORDER BY .*<=>.* LIMIT 5/);
    expect((await planFor(['w1', 'w2'])).plan.actions).toEqual([]);
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
    // The next cycle: statistics for the partitions the moves attached, roles on w3.
    const next = await converge(['w1', 'w2', 'w3']);
    expect(next.kinds).toHaveLength(1);
    expect([...new Set(next.kinds[0])].sort()).toEqual(['analyze', 'ensure-group-role']);
    // The run as recorded in the engine, as the drift report shows it.
    const run = next.plan.drift.find((d) => d.resource === 'rebalance');
    expect(run?.state).toBe('in-sync');
    expect(run?.progress).toMatchObject({ unit: 'shard moves', done: 4, total: 4, etaMs: 0 });
    expect(run?.progress?.bytesDone).toBe(run?.progress?.bytesTotal);
    expect(run?.progress?.finishedAt).toEqual(expect.any(String));
    const moved = await db.query<{ shard_table: string }>(
      "SELECT shard_table FROM pgmesh.shards WHERE relid = 'memory.memory_entries'::regclass AND group_name = 'w3' LIMIT 1",
    );
    const shard = `pgmesh_shards.${pg.escapeIdentifier(moved.rows[0]!.shard_table)}`;
    await onWorker(workers[2]!, 'readonly', async (c) => {
      await c.query(`SELECT count(*) FROM ${shard}`);
      await expect(c.query(`DELETE FROM ${shard}`)).rejects.toThrow(/permission denied/);
    });
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

  it('drains a group marked remove: true; the swarm backend keeps it until it holds no shard', async () => {
    const changed = memoryYaml.replace(/(name: memory-entries-embedding[\s\S]*?)m: 16/, '$1m: 24');
    const before = await counts();
    // 4 tables × 8 shards: 3/3/2 per co-location group (3 tables, then trajectories).
    const held = await shardsPerGroup(ctx, ['w1', 'w2', 'w3']);
    expect(held).toEqual({ known: true, counts: { w1: 12, w2: 12, w3: 8 } });
    expect(drainWait('w3', held)).toBe('waiting for shards to drain: 8 shards on w3');

    const { plan } = await planFor(['w1', 'w2', 'w3:remove'], changed);
    const kinds = plan.actions.map((a) => a.action.kind);
    expect(kinds).toEqual([
      'drain-group',
      ...kinds.slice(1, -1).map(() => 'move-shard'),
      'remove-group',
    ]);
    expect(kinds).toHaveLength(1 + 4 + 1);
    await applyAll(plan.actions);

    const after = await shardsPerGroup(ctx, ['w1', 'w2', 'w3']);
    expect(after).toEqual({ known: true, counts: { w1: 16, w2: 16, w3: 0 } });
    expect(drainWait('w3', after)).toBeNull();
    // The copy's progress reading (used every 2 s of a long copy): the last move's target
    // now holds its shard tables.
    const last = await db.query<{ id: string }>('SELECT max(move_id) AS id FROM pgmesh.data_moves');
    expect(await copiedBytes(db, Number(last.rows[0]?.id))).toBeGreaterThan(0);
    expect(await counts()).toEqual(before);
    const unknown = await shardsPerGroup(
      { ...ctx, connect: () => Promise.reject(new Error('connection refused')) },
      ['w3'],
    );
    expect(drainWait('w3', unknown)).toBe(
      'waiting for shards to drain: placement unknown (the coordinator is not reachable: connection refused); w3 is kept',
    );
  });
});
