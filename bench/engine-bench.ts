/**
 * Engine benchmark, one run, real containers (4 worker groups, one shard each):
 *   - namespace top-10 through the coordinator's parent table vs the same query on the
 *     shard directly, at 10k and 100k rows in the namespace (target ratio <= 1.5);
 *   - the same through plain postgres_fdw (pgmesh.enable_routing = off), for reference;
 *   - global top-10 over 4 shards vs one shard directly (target <= 1.5);
 *   - rows sent by each shard for the global top-10 (EXPLAIN ANALYZE VERBOSE, <= k);
 *   - a breakdown: client round trips, coordinator planning, the shard's own work, the
 *     same queries on postgres_fdw's cursor path (pgmesh.direct_reads = off), and all
 *     shards queried at once by the client (the floor of a fan-out on this machine).
 * Absolute times are medians in ms; compare ratios from the same run (the box is shared).
 * PREFIX (default pgmtest-engine-bench) and ENGINE_IMAGE (default: the engine test image)
 * select the containers.
 * Medians over RUNS runs, interleaved. Build and run:
 *   npx tsc -p bench/engine-bench.tsconfig.json && node node_modules/.cache/pgmesh-engine-bench/bench/engine-bench.js
 */
import pg from 'pg';
import { installEngine } from '../agent/engine/install.js';
import { startPgCluster } from '../test/helpers/pg-containers.js';

const DIMS = 64;
const RUNS = Number(process.env.RUNS ?? 60);
const BIG = Number(process.env.BIG ?? 100_000);
const MID = Number(process.env.MID ?? 10_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function randomVector(): string {
  return `[${Array.from({ length: DIMS }, () => (Math.random() * 2 - 1).toFixed(5)).join(',')}]`;
}

async function time(c: pg.Client, sql: string, params: unknown[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await c.query(sql, params);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.rowCount !== 10) throw new Error(`expected 10 rows, got ${r.rowCount}: ${sql}`);
  return ms;
}

/** Runs the measurements one after the other, starting with number i mod n. */
async function rotated(i: number, fns: (() => Promise<number>)[]): Promise<number[]> {
  const out: number[] = new Array<number>(fns.length);
  for (let j = 0; j < fns.length; j++) {
    const k = (i + j) % fns.length;
    out[k] = await fns[k]!();
  }
  return out;
}

async function main(): Promise<void> {
  const keep = process.env.KEEP === '1';
  const prefix = process.env.PREFIX ?? 'pgmtest-engine-bench';
  const cluster = await startPgCluster({ prefix, workers: 4, image: process.env.ENGINE_IMAGE });
  const connect = async (url: string) => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  try {
    const coord = await connect(cluster.coordinator.url);
    await installEngine(coord);
    for (let i = 1; i <= 4; i++) {
      await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [`w${i}`, [`${prefix}-w${i}`]]);
    }
    await coord.query(`CREATE SCHEMA bench;
      CREATE TABLE bench.items (namespace text NOT NULL, id bigint NOT NULL, embedding vector(${DIMS}),
        PRIMARY KEY (namespace, id))`);
    await coord.query("SELECT pgmesh.create_distributed_table('bench.items', 'namespace', 4)");
    // Two namespaces on different shards, plus background namespaces everywhere.
    const shardOf = async (ns: string) =>
      (
        await coord.query<{ r: number }>(
          `SELECT s.remainder AS r FROM pgmesh.shards s
            WHERE s.relid = 'bench.items'::regclass
              AND satisfies_hash_partition('bench.items'::regclass, 4, s.remainder, $1::text)`,
          [ns],
        )
      ).rows[0]!.r;
    const big = 'ns-big';
    let mid = 'ns-mid-0';
    for (let i = 1; (await shardOf(mid)) === (await shardOf(big)); i++) mid = `ns-mid-${i}`;
    const load = async (ns: string, n: number, from: number) => {
      await coord.query(
        `INSERT INTO bench.items SELECT $1, g,
           (SELECT array_agg(random() * 2 - 1)::vector(${DIMS}) FROM generate_series(1, ${DIMS}) WHERE g > 0)
           FROM generate_series($2::bigint, $3::bigint) g`,
        [ns, from, from + n - 1],
      );
    };
    const t0 = Date.now();
    for (let off = 0; off < BIG; off += 20_000) await load(big, Math.min(20_000, BIG - off), off);
    await load(mid, MID, 0);
    for (let i = 0; i < 40; i++) await load(`ns-bg-${i}`, 500, 0);
    console.log(`loaded ${BIG + MID + 20_000} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    await coord.query(
      "SELECT pgmesh.run_on_shards('bench.items', 'CREATE INDEX IF NOT EXISTS %2$s_hnsw ON %1$s USING hnsw (embedding vector_cosine_ops)')",
    );
    await coord.query('ANALYZE bench.items');
    console.log(`HNSW built on every shard in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    const shards = (
      await coord.query<{ remainder: number; group_name: string; shard_table: string }>(
        "SELECT remainder, group_name, shard_table FROM pgmesh.shards WHERE relid = 'bench.items'::regclass ORDER BY remainder",
      )
    ).rows;
    const direct = new Map<number, pg.Client>();
    for (const s of shards) {
      const w = cluster.workers[Number(s.group_name.slice(1)) - 1]!;
      const c = await connect(w.url);
      await c.query('ANALYZE pgmesh_shards.' + pg.escapeIdentifier(s.shard_table));
      direct.set(s.remainder, c);
    }
    const plainFdw = await connect(cluster.coordinator.url);
    await plainFdw.query('SET pgmesh.enable_routing = off');
    // The same routed/fanned-out query on postgres_fdw's cursor path (the path before
    // direct reads, and the one inside transaction blocks).
    const cursorPath = await connect(cluster.coordinator.url);
    await cursorPath.query('SET pgmesh.direct_reads = off');

    const nsQuery = (table: string) =>
      `SELECT id FROM ${table} WHERE namespace = $1 ORDER BY embedding <=> $2 LIMIT 10`;
    const globalQuery = (table: string) =>
      `SELECT id FROM ${table} ORDER BY embedding <=> $1 LIMIT 10`;
    const shardTable = (r: number) =>
      'pgmesh_shards.' + pg.escapeIdentifier(shards.find((s) => s.remainder === r)!.shard_table);
    const ms = (x: number) => `${x.toFixed(2)} ms`;

    // Floors: a client round trip to the coordinator and to a worker, and the
    // coordinator's planning time of the routed and of the fanned-out query.
    const bigShard = direct.get(await shardOf(big))!;
    const ping = { coord: [] as number[], worker: [] as number[] };
    for (let i = 0; i < RUNS + 5; i++) {
      for (const [k, c] of [
        ['coord', coord],
        ['worker', bigShard],
      ] as const) {
        const t = process.hrtime.bigint();
        await c.query('SELECT 1');
        if (i >= 5) ping[k].push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
    const planMs = async (sql: string, params: unknown[]) => {
      const xs: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await coord.query<{ 'QUERY PLAN': string }>(`EXPLAIN (SUMMARY) ${sql}`, params);
        const m = /Planning Time: ([\d.]+) ms/.exec(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
        if (m && i >= 5) xs.push(Number(m[1]));
      }
      return median(xs);
    };
    const remoteExecMs = async (c: pg.Client, sql: string, params: unknown[]) => {
      const xs: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await c.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, SUMMARY) ${sql}`,
          params,
        );
        const text = r.rows.map((x) => x['QUERY PLAN']).join('\n');
        const p = /Planning Time: ([\d.]+) ms/.exec(text);
        const e = /Execution Time: ([\d.]+) ms/.exec(text);
        if (p && e && i >= 5) xs.push(Number(p[1]) + Number(e[1]));
      }
      return median(xs);
    };
    const results: string[] = [
      `floors: SELECT 1 from the client to the coordinator ${ms(median(ping.coord))}, to a worker ${ms(median(ping.worker))}; coordinator planning of the routed query ${ms(await planMs(nsQuery('bench.items'), [big, randomVector()]))}, of the fanned-out top-10 ${ms(await planMs(globalQuery('bench.items'), [randomVector()]))}`,
    ];

    for (const [label, ns, rows] of [
      ['10k', mid, MID],
      ['100k', big, BIG],
    ] as const) {
      const r = await shardOf(ns);
      const d = direct.get(r)!;
      const parent: number[] = [];
      const cursor: number[] = [];
      const shard: number[] = [];
      const fdw: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        const q = randomVector();
        // The first query with a new vector pulls the shard's HNSW pages into memory
        // (32 MB shared_buffers); the others find them there. Rotate who goes first.
        const [a, b, e] = await rotated(i, [
          () => time(coord, nsQuery('bench.items'), [ns, q]),
          () => time(d, nsQuery(shardTable(r)), [ns, q]),
          () => time(cursorPath, nsQuery('bench.items'), [ns, q]),
        ]);
        const c = i < 15 ? await time(plainFdw, nsQuery('bench.items'), [ns, q]) : NaN;
        if (i >= 5) {
          parent.push(a);
          shard.push(b);
          cursor.push(e);
          if (!Number.isNaN(c)) fdw.push(c);
        }
      }
      const mp = median(parent);
      const msh = median(shard);
      const remote = await remoteExecMs(d, nsQuery(shardTable(r)), [ns, randomVector()]);
      results.push(
        `namespace top-10, ${label} rows (${rows}) in the namespace: parent ${mp.toFixed(2)} ms, shard directly ${msh.toFixed(2)} ms, ratio ${(mp / msh).toFixed(2)} (target <= 1.5); plain postgres_fdw without pgmesh routing ${median(fdw).toFixed(2)} ms`,
        `  breakdown ${label}: parent - shard = ${ms(mp - msh)}; shard's own planning + execution ${ms(remote)}; parent on postgres_fdw's cursor path (pgmesh.direct_reads = off) ${ms(median(cursor))}, ratio ${(median(cursor) / msh).toFixed(2)}`,
      );
    }

    const gParent: number[] = [];
    const gCursor: number[] = [];
    const gShard: number[] = [];
    const gAll: number[] = [];
    const bigR = await shardOf(big);
    for (let i = 0; i < RUNS + 5; i++) {
      const q = randomVector();
      const [a, b, e, f] = await rotated(i, [
        () => time(coord, globalQuery('bench.items'), [q]),
        // One shard: the largest (the 100k namespace's).
        () => time(direct.get(bigR)!, globalQuery(shardTable(bigR)), [q]),
        () => time(cursorPath, globalQuery('bench.items'), [q]),
        // Every shard at once from the client: the floor of any fan-out on this box.
        async () => {
          const t = process.hrtime.bigint();
          await Promise.all(
            shards.map((s) =>
              direct.get(s.remainder)!.query(globalQuery(shardTable(s.remainder)), [q]),
            ),
          );
          return Number(process.hrtime.bigint() - t) / 1e6;
        },
      ]);
      if (i >= 5) {
        gParent.push(a);
        gShard.push(b);
        gCursor.push(e);
        gAll.push(f);
      }
    }
    results.push(
      `global top-10 over 4 shards: ${median(gParent).toFixed(2)} ms; one shard (the largest) directly: ${median(gShard).toFixed(2)} ms; ratio ${(median(gParent) / median(gShard)).toFixed(2)} (target <= 1.5)`,
      `  breakdown global: 4 shards queried at once by the client ${ms(median(gAll))} (ratio ${(median(gAll) / median(gShard)).toFixed(2)} to one shard); largest shard's own planning + execution ${ms(await remoteExecMs(direct.get(bigR)!, globalQuery(shardTable(bigR)), [randomVector()]))}; parent on postgres_fdw's cursor path ${ms(median(gCursor))}, ratio ${(median(gCursor) / median(gShard)).toFixed(2)}`,
    );

    const plan = await coord.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) ${globalQuery('bench.items')}`,
      [randomVector()],
    );
    const text = plan.rows.map((x) => x['QUERY PLAN']).join('\n');
    const sent = [
      ...text.matchAll(/Foreign Scan on (\S+) \(actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/g),
    ].map((m) => `${m[1]}: ${m[2]}`);
    const pushed = (text.match(/LIMIT 10::bigint/g) ?? []).length;
    results.push(
      `rows sent by each shard for the global top-10 (k = 10): ${sent.join(', ')}; remote queries with LIMIT 10: ${pushed}`,
    );

    console.log('\n=== pgmesh engine bench (medians of ' + RUNS + ' runs) ===');
    for (const line of results) console.log(line);
    for (const c of [coord, plainFdw, cursorPath, ...direct.values()]) await c.end();
  } finally {
    if (!keep) await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
