/**
 * Engine benchmark, one run, real containers (4 worker groups, one shard each):
 *   - namespace top-10 through the coordinator's parent table vs the same query on the
 *     shard directly, at 10k and 100k rows in the namespace (target ratio <= 1.5);
 *   - the same through plain postgres_fdw (pgmesh.enable_routing = off), for reference;
 *   - global top-10 over 4 shards vs one shard directly (target <= 1.5);
 *   - rows sent by each shard for the global top-10 (EXPLAIN ANALYZE VERBOSE, <= k).
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

async function main(): Promise<void> {
  const keep = process.env.KEEP === '1';
  const cluster = await startPgCluster({ prefix: 'pgmtest-engine-bench', workers: 4 });
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
      await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [
        `w${i}`,
        [`pgmtest-engine-bench-w${i}`],
      ]);
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

    const nsQuery = (table: string) =>
      `SELECT id FROM ${table} WHERE namespace = $1 ORDER BY embedding <=> $2 LIMIT 10`;
    const globalQuery = (table: string) =>
      `SELECT id FROM ${table} ORDER BY embedding <=> $1 LIMIT 10`;
    const shardTable = (r: number) =>
      'pgmesh_shards.' + pg.escapeIdentifier(shards.find((s) => s.remainder === r)!.shard_table);

    const results: string[] = [];
    for (const [label, ns, rows] of [
      ['10k', mid, MID],
      ['100k', big, BIG],
    ] as const) {
      const r = await shardOf(ns);
      const d = direct.get(r)!;
      const parent: number[] = [];
      const shard: number[] = [];
      const fdw: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        const q = randomVector();
        const a = await time(coord, nsQuery('bench.items'), [ns, q]);
        const b = await time(d, nsQuery(shardTable(r)), [ns, q]);
        const c = i < 15 ? await time(plainFdw, nsQuery('bench.items'), [ns, q]) : NaN;
        if (i >= 5) {
          parent.push(a);
          shard.push(b);
          if (!Number.isNaN(c)) fdw.push(c);
        }
      }
      const mp = median(parent);
      const ms = median(shard);
      results.push(
        `namespace top-10, ${label} rows (${rows}) in the namespace: parent ${mp.toFixed(2)} ms, shard directly ${ms.toFixed(2)} ms, ratio ${(mp / ms).toFixed(2)} (target <= 1.5); plain postgres_fdw without pgmesh routing ${median(fdw).toFixed(2)} ms`,
      );
    }

    const gParent: number[] = [];
    const gShard: number[] = [];
    for (let i = 0; i < RUNS + 5; i++) {
      const q = randomVector();
      const a = await time(coord, globalQuery('bench.items'), [q]);
      // One shard: the largest (the 100k namespace's).
      const r = await shardOf(big);
      const b = await time(direct.get(r)!, globalQuery(shardTable(r)), [q]);
      if (i >= 5) {
        gParent.push(a);
        gShard.push(b);
      }
    }
    results.push(
      `global top-10 over 4 shards: ${median(gParent).toFixed(2)} ms; one shard (the largest) directly: ${median(gShard).toFixed(2)} ms; ratio ${(median(gParent) / median(gShard)).toFixed(2)} (target <= 1.5)`,
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
    for (const c of [coord, plainFdw, ...direct.values()]) await c.end();
  } finally {
    if (!keep) await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
