import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { agentServiceName, groupServiceName } from '../../agent/core/names.js';
import { serviceContainers } from '../../agent/docker/client.js';
import { waitFor } from '../../agent/core/wait.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { runCli } from '../helpers/cli.js';
import { connect, defaultCluster, testDocker } from '../helpers/cluster.js';
import { namespacesOn, psqlIn, primaryOf, rng, startBaseline, vector } from '../helpers/engine.js';
import { ManifestsClone, waitEngineInSync, waitInSync } from '../helpers/gitops.js';

const DIMS = 384;
const NAMESPACES = Array.from({ length: 50 }, (_, i) => `ns-${String(i).padStart(2, '0')}`);
const PER_NAMESPACE = 12;

let m: ClusterManifest;
let rw: pg.Client;

/**
 * A query on the observer's connection through :5432 that reconnects once when the
 * connection was dropped: adding a worker group restarts HAProxy (its config holds the
 * per-group worker routes), which drops every client connection once (README, limits).
 */
async function rwQuery<R extends pg.QueryResultRow>(
  text: string,
  values?: unknown[],
): Promise<pg.QueryResult<R>> {
  try {
    return await rw.query<R>(text, values);
  } catch (err) {
    await rw.end().catch(() => undefined);
    rw = await connect(await defaultCluster(), 'read-write');
    process.stderr.write(`observer reconnected through :5432 after: ${String(err)}\n`);
    return rw.query<R>(text, values);
  }
}
let baseline: Awaited<ReturnType<typeof startBaseline>>;
const next = rng(42);

const COLUMNS = 'namespace, id, key, content, embedding';

async function same(sql: string, params: unknown[]): Promise<unknown[]> {
  const [a, b] = await Promise.all([rw.query(sql, params), baseline.client.query(sql, params)]);
  expect(a.rows).toEqual(b.rows);
  return a.rows;
}

beforeAll(async () => {
  m = await defaultCluster();
  await runCli(['resume']);
  // The agent has installed the engine and the memory schema (manifests/memory.yaml).
  await waitEngineInSync(m);
  rw = await connect(m, 'read-write');
  const image = (await testDocker().getService(groupServiceName('pgmesh', 'coord')).inspect()).Spec
    ?.TaskTemplate as { ContainerSpec?: { Image?: string } };
  baseline = await startBaseline(image.ContainerSpec?.Image ?? 'pgmesh/pgnode:latest');
  await baseline.client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await baseline.client.query('CREATE SCHEMA IF NOT EXISTS memory');
  await baseline.client.query(`CREATE TABLE IF NOT EXISTS memory.memory_entries (
    namespace text NOT NULL, id uuid NOT NULL, key text, content text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}', embedding vector(${DIMS}),
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, id))`);
  // A DELETE over every shard would write to several groups in one transaction, which the
  // engine refuses; one namespace at a time stays on one group.
  for (const ns of NAMESPACES) {
    await rw.query('DELETE FROM memory.memory_entries WHERE namespace = $1', [ns]);
  }
  // The same rows on both sides, written through :5432 on the cluster.
  for (const ns of NAMESPACES) {
    const values: unknown[] = [];
    const tuples: string[] = [];
    for (let i = 0; i < PER_NAMESPACE; i++) {
      const id = `00000000-0000-4000-8000-${String(NAMESPACES.indexOf(ns) * 1000 + i).padStart(12, '0')}`;
      const p = values.length;
      tuples.push(`($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::vector)`);
      values.push(ns, id, `k${i}`, `memory ${i} of ${ns}`, vector(next, DIMS));
    }
    const sql = `INSERT INTO memory.memory_entries (${COLUMNS}) VALUES ${tuples.join(', ')}`;
    await rw.query(sql, values);
    await baseline.client.query(sql, values);
  }
  await rw.query('ANALYZE memory.memory_entries');
});

afterAll(async () => {
  await rw?.end().catch(() => undefined);
  await baseline?.stop();
});

describe('one database over the worker groups, through :5432', () => {
  it('every namespace lives on exactly one worker group', async () => {
    const w1 = await namespacesOn('pgmesh', 'w1', 'pgmesh');
    const w2 = await namespacesOn('pgmesh', 'w2', 'pgmesh');
    const ours = (xs: string[]): string[] => xs.filter((x) => x.startsWith('ns-'));
    expect(ours(w1).filter((x) => ours(w2).includes(x))).toEqual([]);
    expect([...ours(w1), ...ours(w2)].sort()).toEqual(NAMESPACES);
    expect(ours(w1).length).toBeGreaterThan(0);
    expect(ours(w2).length).toBeGreaterThan(0);
  });

  it('reads, counts, updates and deletes return what a single PostgreSQL returns', async () => {
    for (const ns of NAMESPACES.slice(0, 10)) {
      await same(
        `SELECT id::text, key, content FROM memory.memory_entries WHERE namespace = $1 ORDER BY id`,
        [ns],
      );
      await same(`SELECT count(*)::int AS n FROM memory.memory_entries WHERE namespace = $1`, [ns]);
      await same(
        `SELECT id::text, key FROM memory.memory_entries WHERE namespace = $1 AND key = $2`,
        [ns, 'k3'],
      );
      await same(
        `UPDATE memory.memory_entries SET content = content || ' (edited)' WHERE namespace = $1 AND key = $2 RETURNING id::text, content`,
        [ns, 'k1'],
      );
      await same(
        `DELETE FROM memory.memory_entries WHERE namespace = $1 AND key = $2 RETURNING id::text`,
        [ns, 'k2'],
      );
    }
    await same(
      `SELECT count(*)::int AS n FROM memory.memory_entries WHERE namespace LIKE 'ns-%'`,
      [],
    );
  });

  it('namespace vector search returns the same rows as a single PostgreSQL, and runs on one shard', async () => {
    for (const ns of NAMESPACES.slice(10, 30)) {
      const q = vector(next, DIMS);
      await same(
        `SELECT id::text FROM memory.memory_entries WHERE namespace = $1 ORDER BY embedding <=> $2::vector, id LIMIT 10`,
        [ns, q],
      );
    }
    const plan = await rw.query(
      `EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM memory.memory_entries WHERE namespace = 'ns-11' ORDER BY embedding <=> '${vector(next, DIMS)}' LIMIT 10`,
    );
    const text = plan.rows.map((r: Record<string, string>) => Object.values(r)[0]).join('\n');
    expect(text).toMatch(/Foreign Scan/);
    expect(text).toMatch(/Remote SQL:.*ORDER BY.*<=>.*LIMIT 10/s);
    expect(text).not.toMatch(/Append/);
  });

  it('global top-10 equals the exact top-10 (recall@10 ≥ 0.95 over 10 queries)', async () => {
    let hits = 0;
    for (let i = 0; i < 10; i++) {
      const q = vector(next, DIMS);
      const [got, exact] = await Promise.all([
        rw.query<{ id: string }>(
          `SELECT id::text FROM memory.memory_entries ORDER BY embedding <=> $1::vector LIMIT 10`,
          [q],
        ),
        baseline.client.query<{ id: string }>(
          `SELECT id::text FROM memory.memory_entries ORDER BY embedding <=> $1::vector LIMIT 10`,
          [q],
        ),
      ]);
      const truth = new Set(exact.rows.map((r) => r.id));
      hits += got.rows.filter((r) => truth.has(r.id)).length;
    }
    process.stderr.write(`global recall@10 through :5432: ${(hits / 100).toFixed(2)}\n`);
    expect(hits / 100).toBeGreaterThanOrEqual(0.95);
  });

  it('a transaction that writes to two worker groups commits on both (two-phase commit), or is refused in refuse mode', async () => {
    const w1 = (await namespacesOn('pgmesh', 'w1', 'pgmesh')).find((n) => n.startsWith('ns-'));
    const w2 = (await namespacesOn('pgmesh', 'w2', 'pgmesh')).find((n) => n.startsWith('ns-'));
    const insert = `INSERT INTO memory.memory_entries (namespace, key, content) VALUES ($1, 'x-group', 'a')`;
    await rw.query('BEGIN');
    await rw.query("SET LOCAL pgmesh.cross_group_writes = 'refuse'");
    await rw.query(insert, [w1]);
    await expect(rw.query(insert, [w2])).rejects.toThrow(/worker group/i);
    await rw.query('ROLLBACK');
    const count = async () =>
      (
        await rw.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM memory.memory_entries WHERE key = 'x-group'`,
        )
      ).rows[0]?.n;
    expect(await count()).toBe(0);

    await rw.query('BEGIN');
    await rw.query(insert, [w1]);
    await rw.query(insert, [w2]);
    await rw.query('COMMIT');
    expect(await count()).toBe(2);
    const { rows: inDoubt } = await rw.query('SELECT * FROM pgmesh.in_doubt_xacts()');
    expect(inDoubt).toEqual([]);
    // A keyless DELETE writes every group, atomically.
    const del = await rw.query(`DELETE FROM memory.memory_entries WHERE key = 'x-group'`);
    expect(del.rowCount).toBe(2);
    expect(await count()).toBe(0);
  });
});

describe('GitOps on the engine', () => {
  it('changing HNSW m rebuilds the index on every shard while a reader sees no error', async () => {
    const clone = await ManifestsClone.open('pgmesh');
    let stop = false;
    let reads = 0;
    const errors: string[] = [];
    const reader = (async () => {
      const c = await connect(m, 'read-write');
      while (!stop) {
        try {
          await c.query(
            `SELECT id FROM memory.memory_entries WHERE namespace = 'ns-20' ORDER BY embedding <=> $1::vector LIMIT 5`,
            [vector(next, DIMS)],
          );
          reads++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      await c.end();
    })();
    const commit = await clone.pushDocs('memory_entries: HNSW m 24', 'memory.yaml', (docs) => {
      const doc = docs.find((d) => d.getIn(['metadata', 'name']) === 'memory-entries-embedding');
      doc?.setIn(['spec', 'm'], 24);
    });
    await waitInSync(m, commit, 600_000);
    stop = true;
    await reader;
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    for (const group of ['w1', 'w2']) {
      const primary = await primaryOf('pgmesh', group, 'pgmesh');
      const opts = (
        await psqlIn(
          primary,
          'pgmesh',
          `SELECT DISTINCT array_to_string(c.reloptions, ',') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam
           WHERE a.amname = 'hnsw' AND t.relname LIKE 'memory_memory_entries_%'`,
        )
      ).split('\n');
      expect(opts).toEqual(['m=24,ef_construction=64']);
    }
  });

  it('adding w3 in the manifest while a writer runs rebalances onto it, across a kill of the agent mid-move; no row changes, no write is lost, nothing left behind', async () => {
    const clone = await ManifestsClone.open('pgmesh');
    const checksum = `SELECT count(*)::int AS n, md5(string_agg(namespace || id::text || content, ',' ORDER BY namespace, id)) AS sum
      FROM memory.memory_entries WHERE namespace LIKE 'ns-%' AND coalesce(key, '') NOT LIKE 'w-%'`;
    const before = (await rw.query(checksum)).rows[0];

    let stop = false;
    const acked: string[] = [];
    let lastOk = Date.now();
    let maxGapMs = 0;
    let failures = 0;
    const writer = (async () => {
      const c = await connect(m, 'read-write');
      c.on('error', () => undefined);
      let client = c;
      for (let i = 0; !stop; i++) {
        const key = `w-${i}`;
        const ns = NAMESPACES[i % NAMESPACES.length];
        try {
          await client.query(
            `INSERT INTO memory.memory_entries (namespace, key, content) VALUES ($1, $2, 'written during the rebalance')`,
            [ns, key],
          );
          acked.push(key);
          const now = Date.now();
          maxGapMs = Math.max(maxGapMs, now - lastOk);
          lastOk = now;
        } catch {
          failures++;
          await client.end().catch(() => undefined);
          client = await connect(m, 'read-write').catch(() => client);
        }
      }
      await client.end().catch(() => undefined);
    })();

    const commit = await clone.push('add worker group w3', (doc) =>
      doc.addIn(['spec', 'workerGroups'], { name: 'w3', members: 2 }),
    );
    // Kill the agent in the middle of a shard move: Swarm starts it again, and the new
    // process resumes the journaled move instead of leaving it half done.
    const { id: moveId, state: stateAtKill } = await waitFor(
      async () => {
        const { rows } = await rwQuery<{ id: string; state: string }>(
          `SELECT move_id::text AS id, state FROM pgmesh.data_moves
            WHERE state IN ('started', 'copying', 'ready') ORDER BY move_id DESC LIMIT 1`,
        );
        return rows[0] ?? 'no move running yet';
      },
      { what: 'a shard move to start', timeoutMs: 600_000, intervalMs: 100 },
    );
    const [agent] = (await serviceContainers(testDocker(), agentServiceName('pgmesh', 1))).filter(
      (c) => c.state === 'running',
    );
    if (!agent) throw new Error('no running agent container');
    await testDocker().getContainer(agent.id).kill();
    process.stderr.write(`agent killed during move ${moveId} (state ${stateAtKill})\n`);
    await waitInSync(m, commit, 900_000);
    const killedMove = await rwQuery<{ state: string }>(
      'SELECT state FROM pgmesh.data_moves WHERE move_id = $1',
      [moveId],
    );
    expect(killedMove.rows[0]?.state).toBe('done');
    expect(
      (await rwQuery("SELECT count(*)::int AS n FROM pgmesh.data_moves WHERE state <> 'done'"))
        .rows[0],
    ).toEqual({ n: 0 });
    // Nothing of any move is left on any worker: no logical slot, publication, subscription.
    for (const g of ['w1', 'w2', 'w3']) {
      const primary = await primaryOf('pgmesh', g, 'pgmesh');
      const leftovers = await psqlIn(
        primary,
        'pgmesh',
        `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical') || ','
             || (SELECT count(*) FROM pg_publication) || ','
             || (SELECT count(*) FROM pg_subscription)`,
      );
      expect(`${g}: ${leftovers}`).toBe(`${g}: 0,0,0`);
    }
    stop = true;
    await writer;
    process.stderr.write(
      `rebalance onto w3: ${acked.length} writes acknowledged, ${failures} retried, longest write pause ${(maxGapMs / 1000).toFixed(2)} s\n`,
    );

    const on = async (g: string): Promise<string[]> =>
      (await namespacesOn('pgmesh', g, 'pgmesh')).filter((x) => x.startsWith('ns-'));
    const [w1, w2, w3] = await Promise.all([on('w1'), on('w2'), on('w3')]);
    expect(w3.length).toBeGreaterThan(0);
    expect([...w1, ...w2, ...w3].sort()).toEqual(NAMESPACES);
    expect((await rwQuery(checksum)).rows[0]).toEqual(before);
    const { rows } = await rwQuery<{ key: string }>(
      `SELECT key FROM memory.memory_entries WHERE key LIKE 'w-%'`,
    );
    const stored = new Set(rows.map((r) => r.key));
    expect(acked.filter((k) => !stored.has(k))).toEqual([]);
  });
});
