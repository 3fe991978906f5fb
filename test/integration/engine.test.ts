/**
 * The sharding engine against real PostgreSQL 17 containers: a coordinator (with the
 * pgmesh planner hook), three workers (w3 joins later) and one plain single-node
 * PostgreSQL holding the same rows, for comparison.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installEngine } from '../../agent/engine/install.js';
import { moveShard, rebalance } from '../../agent/engine/move-shard.js';
import { mulberry32 } from '../../agent/bench/rng.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-containers.js';

const DIMS = 64;
const NAMESPACES = 50;
const PER_NS = 30;
const SHARDS = 8;
/** PGMESH_ENGINE_PREFIX lets parallel checkouts run this file side by side. */
const PREFIX = process.env.PGMESH_ENGINE_PREFIX ?? 'pgmtest-engine-it';

let cluster: PgCluster;
let coord: pg.Client;
let plain: pg.Client;
const workers: pg.Client[] = [];

function vec(r: () => number): number[] {
  return Array.from({ length: DIMS }, () => r() * 2 - 1);
}

const lit = (v: number[]) => `[${v.join(',')}]`;

function cosine(a: number[], b: number[]): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return 1 - d / Math.sqrt(na * nb);
}

interface Row {
  namespace: string;
  id: string;
  key: string;
  content: string;
  embedding: number[];
}
const rows: Row[] = [];

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function insertRows(c: pg.Client, batch: Row[]): Promise<void> {
  const params: unknown[] = [];
  const values = batch.map((r, i) => {
    params.push(r.namespace, r.id, r.key, r.content, lit(r.embedding));
    const b = i * 5;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::vector)`;
  });
  await c.query(
    `INSERT INTO memory.memory_entries (namespace, id, key, content, embedding) VALUES ${values.join(', ')}`,
    params,
  );
}

/** Namespace -> worker group holding it, read on the workers directly. */
async function placementOnWorkers(): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>();
  for (const [i, w] of workers.entries()) {
    const tables = await w.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'pgmesh_shards' AND tablename LIKE 'memory_memory_entries_%'`,
    );
    for (const { t } of tables.rows) {
      const r = await w.query<{ namespace: string }>(
        `SELECT DISTINCT namespace FROM pgmesh_shards.${pg.escapeIdentifier(t)}`,
      );
      for (const { namespace } of r.rows) {
        where.set(namespace, [...(where.get(namespace) ?? []), `w${i + 1}`]);
      }
    }
  }
  return where;
}

async function replicationObjects(): Promise<number> {
  let n = 0;
  for (const w of workers) {
    const r = await w.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM pg_replication_slots) + (SELECT count(*) FROM pg_publication)
            + (SELECT count(*) FROM pg_subscription) AS n`,
    );
    n += Number(r.rows[0]?.n);
  }
  return n;
}

async function tableDigest(c: pg.Client, table: string): Promise<string> {
  const r = await c.query<{ n: string; md5: string }>(
    `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY namespace, id), '')) AS md5
       FROM ${table} t WHERE namespace NOT LIKE 'writer%'`,
  );
  return `${r.rows[0]?.n}:${r.rows[0]?.md5}`;
}

beforeAll(async () => {
  cluster = await startPgCluster({ prefix: PREFIX, workers: 3, extras: 1 });
  coord = await connect(cluster.coordinator.url);
  plain = await connect(cluster.extras[0]!.url);
  for (const w of cluster.workers) workers.push(await connect(w.url));

  const first = await installEngine(coord);
  expect(first.applied.length).toBeGreaterThan(0);
  const again = await installEngine(coord);
  expect(again.applied).toEqual([]);
  expect(again.current).toBe(first.current);

  for (const g of ['w1', 'w2']) {
    await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [g, [`${PREFIX}-${g}`]]);
  }
  await coord.query('SELECT pgmesh.create_memory_schema($1, $2)', [DIMS, SHARDS]);

  // The same table, plain, on a single PostgreSQL.
  await plain.query('CREATE EXTENSION vector');
  await plain.query(`CREATE SCHEMA memory;
    CREATE TABLE memory.memory_entries (
      namespace text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), key text,
      content text NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', embedding vector(${DIMS}),
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (namespace, id))`);

  const r = mulberry32(42);
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${String(n).padStart(2, '0')}`;
    const batch: Row[] = [];
    for (let i = 0; i < PER_NS; i++) {
      const h = Math.floor(r() * 0xffffffff)
        .toString(16)
        .padStart(8, '0');
      batch.push({
        namespace: ns,
        id: `${h}-0000-4000-8000-${String(n * 1000 + i).padStart(12, '0')}`,
        key: `k${i % 10}`,
        content: `entry ${n}/${i}`,
        embedding: vec(r),
      });
    }
    rows.push(...batch);
    // One namespace per statement: one worker group per transaction.
    await insertRows(coord, batch);
    await insertRows(plain, batch);
    await coord.query(
      `INSERT INTO memory.patterns (namespace, name, embedding)
       SELECT namespace, 'p-' || key, embedding FROM memory.memory_entries WHERE namespace = $1 AND key = 'k0'`,
      [ns],
    );
  }
  await coord.query('ANALYZE memory.memory_entries');
}, 600_000);

afterAll(async () => {
  for (const c of [coord, plain, ...workers]) await c?.end().catch(() => {});
  await cluster?.stop();
});

describe('engine: placement and plain SQL equivalence', () => {
  it('keeps every namespace on exactly one worker group', async () => {
    const where = await placementOnWorkers();
    expect(where.size).toBe(NAMESPACES);
    for (const [ns, groups] of where) {
      expect(groups, ns).toHaveLength(1);
    }
    const total = await coord.query<{ n: string }>(
      'SELECT count(*) AS n FROM memory.memory_entries',
    );
    expect(Number(total.rows[0]?.n)).toBe(NAMESPACES * PER_NS);
  });

  it('answers reads, namespace vector search, updates and deletes like a single PostgreSQL', async () => {
    const r = mulberry32(7);
    for (let n = 0; n < NAMESPACES; n += 5) {
      const ns = `ns-${String(n).padStart(2, '0')}`;
      const q = lit(vec(r));
      const statements: [string, unknown[]][] = [
        [
          'SELECT id, key, content FROM memory.memory_entries WHERE namespace = $1 ORDER BY id',
          [ns],
        ],
        [
          'SELECT content FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
          [ns, rows[n * PER_NS + 3]!.id],
        ],
        [
          'SELECT count(*), max(content) FROM memory.memory_entries WHERE namespace = $1 AND key = $2',
          [ns, 'k3'],
        ],
        [
          'SELECT id, round((embedding <=> $2)::numeric, 6) AS d FROM memory.memory_entries WHERE namespace = $1 ORDER BY embedding <=> $2 LIMIT 10',
          [ns, q],
        ],
        [
          "UPDATE memory.memory_entries SET content = content || ' (edited)', updated_at = '2025-01-01' WHERE namespace = $1 AND key = $2 RETURNING id, content",
          [ns, 'k1'],
        ],
        [
          'DELETE FROM memory.memory_entries WHERE namespace = $1 AND key = $2 RETURNING id',
          [ns, 'k2'],
        ],
        [
          'SELECT id, key, content FROM memory.memory_entries WHERE namespace = $1 ORDER BY id',
          [ns],
        ],
      ];
      for (const [sql, params] of statements) {
        const a = await coord.query(sql, params);
        const b = await plain.query(sql, params);
        const sort = (x: unknown[]) => x.map((v) => JSON.stringify(v)).sort();
        expect(a.rowCount, sql).toBe(b.rowCount);
        if (/ORDER BY/.test(sql)) expect(a.rows, sql).toEqual(b.rows);
        else expect(sort(a.rows), sql).toEqual(sort(b.rows));
      }
    }
  });

  it('runs a fixed-namespace query entirely on its shard (EXPLAIN shows the pushed plan)', async () => {
    const q = lit(vec(mulberry32(3)));
    const plan = async (sql: string, params: unknown[]) =>
      (
        await coord.query<{ 'QUERY PLAN': string }>(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`, params)
      ).rows
        .map((x) => x['QUERY PLAN'])
        .join('\n');
    const topk = await plan(
      'SELECT id, content FROM memory.memory_entries WHERE namespace = $1 ORDER BY embedding <=> $2 LIMIT 10',
      ['ns-07', q],
    );
    console.log(topk.slice(0, 600));
    expect(topk.split('\n')[0]).toMatch(/^Foreign Scan on pgmesh_part\.memory_memory_entries_\d+$/);
    expect(topk).toMatch(
      /Remote SQL: .*WHERE \(\(namespace = 'ns-07'\)\) ORDER BY \(embedding OPERATOR\(public\.<=>\).* LIMIT 10/,
    );
    const upd = await plan(
      "UPDATE memory.memory_entries SET content = 'x' WHERE namespace = $1 AND key = $2",
      ['ns-07', 'k9'],
    );
    expect(upd).toMatch(/Foreign Update on pgmesh_part\.memory_memory_entries_\d+/);
    expect(upd).toMatch(/Remote SQL: UPDATE pgmesh_shards\.memory_memory_entries_\d+ SET content/);
    const del = await plan('DELETE FROM memory.memory_entries WHERE namespace = $1 AND id = $2', [
      'ns-07',
      rows[0]!.id,
    ]);
    expect(del).toMatch(/Remote SQL: DELETE FROM pgmesh_shards\.memory_memory_entries_\d+/);
    const cnt = await plan('SELECT count(*) FROM memory.memory_entries WHERE namespace = $1', [
      'ns-07',
    ]);
    expect(cnt).toMatch(/Remote SQL: SELECT count\(\*\) FROM pgmesh_shards/);
  });

  it('fans a global top-k out to every shard in parallel, at most k rows from each', async () => {
    const q = lit(vec(mulberry32(5)));
    const { rows: planRows } = await coord.query<{ 'QUERY PLAN': string }>(
      'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) SELECT id FROM memory.memory_entries ORDER BY embedding <=> $1 LIMIT 10',
      [q],
    );
    const text = planRows.map((x) => x['QUERY PLAN']).join('\n');
    const scans = [
      ...text.matchAll(/Async Foreign Scan on \S+ \(actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/g),
    ];
    expect(scans).toHaveLength(SHARDS);
    for (const s of scans) expect(Number(s[1])).toBeLessThanOrEqual(10);
    expect(text.match(/LIMIT 10::bigint/g)).toHaveLength(SHARDS);
  });

  it('global top-10 equals brute force when exact, recall@10 >= 0.95 with default HNSW', async () => {
    const { rows: all } = await plain.query<{ id: string; embedding: string }>(
      'SELECT id, embedding::text FROM memory.memory_entries',
    );
    const data = all.map((x) => ({ id: x.id, v: JSON.parse(x.embedding) as number[] }));
    const r = mulberry32(11);
    let hits = 0;
    const queries = 10;
    for (let i = 0; i < queries; i++) {
      const qv = vec(r);
      const truth = data
        .map((d) => ({ id: d.id, d: cosine(d.v, qv) }))
        .sort((a, b) => a.d - b.d)
        .slice(0, 10)
        .map((x) => x.id);
      // `+ 0` keeps the HNSW index out of the shards' plans: exact per-shard top-k.
      const exact = await coord.query<{ id: string }>(
        'SELECT id FROM memory.memory_entries ORDER BY (embedding <=> $1) + 0 LIMIT 10',
        [lit(qv)],
      );
      expect(exact.rows.map((x) => x.id)).toEqual(truth);
      const ann = await coord.query<{ id: string }>(
        'SELECT id FROM memory.memory_entries ORDER BY embedding <=> $1 LIMIT 10',
        [lit(qv)],
      );
      hits += ann.rows.filter((x) => truth.includes(x.id)).length;
    }
    const recall = hits / (queries * 10);
    console.log(`global recall@10 with default HNSW settings: ${recall}`);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });
});

describe('engine: guarantees', () => {
  async function groupOf(ns: string): Promise<string> {
    const where = await placementOnWorkers();
    return where.get(ns)![0]!;
  }

  it('in refuse mode, refuses a transaction that writes to two worker groups, and commits nothing', async () => {
    await coord.query("SET pgmesh.cross_group_writes = 'refuse'");
    const where = await placementOnWorkers();
    const byGroup = new Map<string, string>();
    for (const [ns, [g]] of where) if (!byGroup.has(g!)) byGroup.set(g!, ns);
    const [a, b] = [...byGroup.values()];
    expect(await groupOf(a!)).not.toBe(await groupOf(b!));
    const before = await coord.query('SELECT count(*) FROM memory.memory_entries');

    await coord.query('BEGIN');
    await coord.query("INSERT INTO memory.memory_entries (namespace, content) VALUES ($1, 'x')", [
      a,
    ]);
    await expect(
      coord.query("INSERT INTO memory.memory_entries (namespace, content) VALUES ($1, 'y')", [b]),
    ).rejects.toThrow(/writes to more than one worker group/);
    await coord.query('ROLLBACK');
    await expect(
      coord.query(
        "INSERT INTO memory.memory_entries (namespace, content) VALUES ($1, 'x'), ($2, 'y')",
        [a, b],
      ),
    ).rejects.toThrow(/writes to more than one worker group/);
    const after = await coord.query('SELECT count(*) FROM memory.memory_entries');
    expect(after.rows).toEqual(before.rows);

    // Two namespaces of the same group in one transaction are fine (one remote commit).
    const same = [...where].filter(([, g]) => g[0] === where.get(a!)![0]).map(([ns]) => ns);
    await coord.query('BEGIN');
    await coord.query('UPDATE memory.memory_entries SET key = key WHERE namespace = $1', [same[0]]);
    await coord.query('UPDATE memory.memory_entries SET key = key WHERE namespace = $1', [same[1]]);
    await coord.query('COMMIT');
    await coord.query('RESET pgmesh.cross_group_writes');
  });

  it('rejects bad input with a clear error and changes nothing', async () => {
    await coord.query(`CREATE TABLE public.plainbad (id int, ns text, PRIMARY KEY (ns, id));
      INSERT INTO public.plainbad VALUES (1, 'a'), (2, 'b');
      CREATE TABLE public."bad;name" (id int, ns text);
      CREATE TABLE public."bad name" (id int, ns text);
      CREATE TABLE public."bad""q" (id int, ns text);
      CREATE TABLE public.badcol (id int, "my col" text, "x'y" text)`);
    const snapshot = async () => {
      const m = await coord.query(
        `SELECT (SELECT count(*) FROM pgmesh.distributed_tables) AS d, (SELECT count(*) FROM pgmesh.shards) AS s,
                (SELECT count(*) FROM pgmesh.colocation_groups) AS c,
                (SELECT count(*) FROM pg_class WHERE relnamespace = 'pgmesh_part'::regnamespace) AS p,
                (SELECT relkind FROM pg_class WHERE oid = 'public.plainbad'::regclass) AS k,
                (SELECT count(*) FROM public.plainbad) AS n`,
      );
      const w: unknown[] = [];
      for (const c of workers) {
        w.push(
          (await c.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmesh_shards'")).rows,
        );
      }
      return JSON.stringify([m.rows, w]);
    };
    const before = await snapshot();
    const cases: [string, unknown[], RegExp][] = [
      [
        "SELECT pgmesh.create_distributed_table('public.plainbad', 'nope', 4)",
        [],
        /column nope of .* does not exist/,
      ],
      [
        "SELECT pgmesh.create_distributed_table('public.plainbad', 'ns', 0)",
        [],
        /shard count must be between 1 and 1024/,
      ],
      [
        "SELECT pgmesh.create_distributed_table('public.plainbad', 'ns', 1025)",
        [],
        /shard count must be between 1 and 1024/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public."bad;name"', 'ns'],
        /table name .* is not allowed/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public."bad name"', 'ns'],
        /table name .* is not allowed/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public."bad""q"', 'ns'],
        /table name .* is not allowed/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public.badcol', 'my col'],
        /column name .* is not allowed/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public.badcol', "x'y"],
        /column name .* is not allowed/,
      ],
      [
        'SELECT pgmesh.create_distributed_table($1, $2, 4)',
        ['public.plainbad', 'ns; DROP TABLE x'],
        /column name .* is not allowed/,
      ],
      [
        "SELECT pgmesh.create_distributed_table('public.plainbad', 'ns', 4, 'memory.memory_entries')",
        [],
        /cannot co-locate .* \(4 shards\) with memory\.memory_entries \(8 shards\)/,
      ],
    ];
    for (const [sql, params, re] of cases) {
      await expect(coord.query(sql, params), sql).rejects.toThrow(re);
    }
    expect(await snapshot()).toBe(before);
    // The good call works (and moves the existing rows).
    await coord.query("SELECT pgmesh.create_distributed_table('public.plainbad', 'ns', 4)");
    const moved = await coord.query('SELECT id, ns FROM public.plainbad ORDER BY id');
    expect(moved.rows).toEqual([
      { id: 1, ns: 'a' },
      { id: 2, ns: 'b' },
    ]);
  });
});

describe('engine: moving shards', () => {
  it('abandons a move cleanly: nothing left behind on any worker', async () => {
    const before = await tableDigest(coord, 'memory.memory_entries');
    const { rows: s } = await coord.query<{ remainder: number; group_name: string }>(
      "SELECT remainder, group_name FROM pgmesh.shards WHERE relid = 'memory.memory_entries'::regclass ORDER BY remainder LIMIT 1",
    );
    const target = s[0]!.group_name === 'w1' ? 'w2' : 'w1';
    await coord.query("SELECT pgmesh.move_shard_start('memory.memory_entries', $1, $2)", [
      s[0]!.remainder,
      target,
    ]);
    expect(await replicationObjects()).toBeGreaterThan(0);
    // As if the driver died: the next agent cleans up.
    const cleaned = await coord.query<{ n: number }>('SELECT pgmesh.cleanup_moves() AS n');
    expect(cleaned.rows[0]?.n).toBe(1);
    expect(await replicationObjects()).toBe(0);
    expect(await tableDigest(coord, 'memory.memory_entries')).toBe(before);
  });

  it('a move that fails to start undoes its steps on the workers (no publication left)', async () => {
    const before = await tableDigest(coord, 'memory.memory_entries');
    const { rows: s } = await coord.query<{ remainder: number; group_name: string }>(
      "SELECT remainder, group_name FROM pgmesh.shards WHERE relid = 'memory.memory_entries'::regclass ORDER BY remainder LIMIT 1",
    );
    const source = s[0]!.group_name;
    const target = source === 'w1' ? 'w2' : 'w1';
    const { rows: next } = await coord.query<{ id: string }>(
      'SELECT (CASE WHEN is_called THEN last_value + 1 ELSE last_value END)::text AS id FROM pgmesh.data_moves_move_id_seq',
    );
    // The last step, CREATE SUBSCRIPTION on the target, fails: a subscription of that name
    // is there already. By then the target has the shard copies and a marker, the source a
    // marker and the publication.
    const onTarget = workers[Number(target.slice(1)) - 1]!;
    await onTarget.query(
      `CREATE SUBSCRIPTION pgmesh_move_${next[0]!.id} CONNECTION 'host=127.0.0.1 dbname=none' PUBLICATION none WITH (connect = false)`,
    );
    await expect(
      coord.query("SELECT pgmesh.move_shard_start('memory.memory_entries', $1, $2)", [
        s[0]!.remainder,
        target,
      ]),
    ).rejects.toThrow(/already exists/);
    expect(await replicationObjects()).toBe(0);
    for (const w of workers) {
      const { rows } = await w.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'pgmesh_shards' AND tablename LIKE 'pgmesh_move_%'",
      );
      expect(rows[0]?.n).toBe(0);
    }
    // Nor the copies of the shard (every co-located table's) on the target.
    const { rows: shardTables } = await coord.query<{ t: string }>(
      `SELECT sh.shard_table AS t FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
        WHERE sh.remainder = $1 AND d.colocation_id =
          (SELECT colocation_id FROM pgmesh.distributed_tables WHERE relid = 'memory.memory_entries'::regclass)`,
      [s[0]!.remainder],
    );
    expect(shardTables.length).toBeGreaterThan(0);
    const { rows: copies } = await onTarget.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'pgmesh_shards' AND tablename = ANY($1)",
      [shardTables.map((r) => r.t)],
    );
    expect(copies[0]?.n).toBe(0);
    expect(
      (
        await coord.query(
          "SELECT count(*)::int AS n FROM pgmesh.data_moves WHERE state NOT IN ('done', 'cleaned')",
        )
      ).rows[0],
    ).toEqual({ n: 0 });
    expect(await tableDigest(coord, 'memory.memory_entries')).toBe(before);
  });

  it('rebalances onto a new group while a writer runs: equal data, no lost write', async () => {
    await coord.query('SELECT pgmesh.add_worker_group($1, $2)', ['w3', [`${PREFIX}-w3`]]);
    const tables = ['memory.memory_entries', 'memory.patterns', 'memory.graph_nodes'];
    const before: string[] = [];
    for (const t of tables) before.push(await tableDigest(coord, t));

    const writer = await connect(cluster.coordinator.url);
    const acked: string[] = [];
    let maxLatency = 0;
    let stop = false;
    let errors = 0;
    const loop = (async () => {
      let i = 0;
      while (!stop) {
        const t0 = Date.now();
        try {
          const r = await writer.query<{ id: string }>(
            'INSERT INTO memory.memory_entries (namespace, content) VALUES ($1, $2) RETURNING id',
            [`writer-${i % 16}`, `w${i}`],
          );
          acked.push(r.rows[0]!.id);
        } catch {
          errors++;
        }
        maxLatency = Math.max(maxLatency, Date.now() - t0);
        i++;
      }
    })();

    const moves = await rebalance(coord, { pollMs: 100 });
    stop = true;
    await loop;
    await writer.end();
    for (const m of moves) {
      console.log(
        `move ${m.moveId}: copy ${m.copyMs} ms, write pause at the switch ${m.pauseMs.toFixed(1)} ms`,
      );
    }
    console.log(
      `writer: ${acked.length} acknowledged inserts, ${errors} errors, max latency ${maxLatency} ms`,
    );
    expect(moves.length).toBeGreaterThan(0);
    expect(errors).toBe(0);

    const { rows: placed } = await coord.query<{ group_name: string; n: string }>(
      "SELECT group_name, count(*) AS n FROM pgmesh.shards WHERE relid = 'memory.memory_entries'::regclass GROUP BY 1 ORDER BY 1",
    );
    expect(placed.map((p) => p.group_name)).toEqual(['w1', 'w2', 'w3']);
    const after: string[] = [];
    for (const t of tables) after.push(await tableDigest(coord, t));
    expect(after).toEqual(before);
    const got = await coord.query<{ id: string }>(
      "SELECT id FROM memory.memory_entries WHERE namespace LIKE 'writer%'",
    );
    const have = new Set(got.rows.map((r) => r.id));
    expect(acked.filter((id) => !have.has(id))).toEqual([]);
    expect(await replicationObjects()).toBe(0);
    const where = await placementOnWorkers();
    for (const [ns, groups] of where) expect(groups, ns).toHaveLength(1);
  });

  it('moves one shard with the SQL procedure too', async () => {
    const { rows: s } = await coord.query<{ remainder: number; group_name: string }>(
      "SELECT remainder, group_name FROM pgmesh.shards WHERE relid = 'memory.trajectories'::regclass ORDER BY remainder LIMIT 1",
    );
    await coord.query("CALL pgmesh.move_shard('memory.trajectories', $1, 'w3')", [s[0]!.remainder]);
    const r = await moveShard(coord, 'memory.trajectories', s[0]!.remainder, s[0]!.group_name);
    expect(r.pauseMs).toBeGreaterThan(0);
    expect(await replicationObjects()).toBe(0);
  });
});
