/**
 * DDL benchmark (issue #14), one run, real containers: a 32-shard distributed table on
 * 2 worker groups and the same table on a plain PostgreSQL, ROWS rows each (default
 * 100 000; BIG=1 for 1 000 000). On each, a writer inserts single rows as fast as it
 * can while `ALTER TABLE ... ADD COLUMN ... DEFAULT` and then `CREATE INDEX
 * CONCURRENTLY` run; printed: each statement's duration and the writer's longest insert
 * (the write pause it caused), next to the writer's longest insert without DDL, and the
 * writer's errors (expected: none). Absolute times drift with the shared box's load;
 * compare the two targets from one run.
 * PREFIX (default pgmtest-engine-ddl-bench) and ENGINE_IMAGE select the containers;
 * KEEP=1 leaves them running. Build and run: npm run bench:ddl. Pass ENGINE_IMAGE (the
 * engine test image of this tree, e.g. the tag an integration run printed): the compiled
 * bench cannot find the tree to build it, like bench:engine.
 */
import pg from 'pg';
import { installEngine } from '../agent/engine/install.js';
import { startPgCluster } from '../test/helpers/pg-containers.js';

const ROWS = process.env.BIG === '1' ? 1_000_000 : Number(process.env.ROWS ?? 100_000);
const SHARDS = 32;
const QUIET_MS = 1500;

interface Writer {
  longest: () => number;
  reset: () => void;
  errors: string[];
  count: () => number;
  stop: () => Promise<void>;
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function startWriter(url: string, firstId: number): Promise<Writer> {
  const c = await connect(url);
  let longest = 0;
  let n = 0;
  let stop = false;
  const errors: string[] = [];
  const loop = (async () => {
    let id = firstId;
    while (!stop) {
      id++;
      const t0 = performance.now();
      try {
        await c.query('INSERT INTO bench.t (tenant_id, id, v) VALUES ($1, $2, $3)', [
          id % 1000,
          id,
          id % 97,
        ]);
        n++;
      } catch (err) {
        errors.push((err as Error).message);
      }
      longest = Math.max(longest, performance.now() - t0);
    }
  })();
  return {
    longest: () => longest,
    reset: () => {
      longest = 0;
    },
    errors,
    count: () => n,
    stop: async () => {
      stop = true;
      await loop;
      await c.end();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(name: string, url: string): Promise<Record<string, string | number>> {
  const ddl = await connect(url);
  const w = await startWriter(url, ROWS + 10);
  await sleep(QUIET_MS);
  w.reset();
  await sleep(QUIET_MS);
  const quiet = w.longest();
  const out: Record<string, string | number> = {
    target: name,
    'longest insert, no DDL (ms)': quiet.toFixed(1),
  };
  for (const [label, sql] of [
    ['ADD COLUMN DEFAULT', 'ALTER TABLE bench.t ADD COLUMN c1 int NOT NULL DEFAULT 7'],
    ['CREATE INDEX CONCURRENTLY', 'CREATE INDEX CONCURRENTLY t_v ON bench.t (v)'],
  ] as const) {
    w.reset();
    const t0 = performance.now();
    await ddl.query(sql);
    const took = performance.now() - t0;
    await sleep(200);
    out[`${label}: took (ms)`] = took.toFixed(0);
    out[`${label}: longest insert (ms)`] = w.longest().toFixed(1);
    await sleep(QUIET_MS);
  }
  await w.stop();
  out['inserts'] = w.count();
  out['writer errors'] = w.errors.length;
  if (w.errors.length > 0) console.log(`${name} writer errors (first 3):`, w.errors.slice(0, 3));
  await ddl.end();
  return out;
}

async function main(): Promise<void> {
  const prefix = process.env.PREFIX ?? 'pgmtest-engine-ddl-bench';
  const cluster = await startPgCluster({
    prefix,
    workers: 2,
    extras: 1,
    image: process.env.ENGINE_IMAGE,
  });
  try {
    const coord = await connect(cluster.coordinator.url);
    const plain = await connect(cluster.extras[0]!.url);
    await installEngine(coord);
    for (const [i, w] of cluster.workers.entries()) {
      await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [`w${i + 1}`, [w.name]]);
    }
    for (const c of [coord, plain]) {
      await c.query(`CREATE SCHEMA bench;
        CREATE TABLE bench.t (tenant_id int NOT NULL, id bigint NOT NULL, v int, payload text,
                              PRIMARY KEY (tenant_id, id));
        INSERT INTO bench.t SELECT i % 1000, i, i % 97, md5(i::text) FROM generate_series(1, ${ROWS}) i`);
    }
    const t0 = performance.now();
    await coord.query("SELECT pgmesh.create_distributed_table('bench.t', 'tenant_id', $1)", [
      SHARDS,
    ]);
    console.log(
      `${ROWS} rows, ${SHARDS} shards on 2 groups (distributed in ${(performance.now() - t0).toFixed(0)} ms)`,
    );
    await coord.end();
    await plain.end();
    const rows = [
      await measure('pgmesh (32 shards)', cluster.coordinator.url),
      await measure('plain PostgreSQL', cluster.extras[0]!.url),
    ];
    console.table(rows);
  } finally {
    if (process.env.KEEP !== '1') await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
