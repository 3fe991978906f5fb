/**
 * Transactions benchmark, one run, real containers (a coordinator, 2 worker groups, a
 * plain PostgreSQL for comparison):
 *   - a transaction writing two groups (two-phase commit) vs one writing one group:
 *     BEGIN; UPDATE one row; UPDATE another; COMMIT (target: p50 ratio <= 2.5);
 *   - a 1000-row multi-row INSERT spread over every group vs the same on the plain
 *     server (target: throughput ratio >= 0.5);
 *   - a keyless UPDATE of 1 % of ROWS rows (default 1M) vs the plain server.
 * Medians and maxima in ms over RUNS runs, interleaved; compare ratios from one run (the
 * box is shared). PREFIX (default pgmtest-engine-xbench) names the containers.
 *   npm run bench:xact
 */
import pg from 'pg';
import { installEngine } from '../agent/engine/install.js';
import { buildTreeImage } from '../agent/host/images.js';
import { createLogger } from '../agent/core/log.js';
import { startPgCluster } from '../test/helpers/pg-containers.js';
import { engineTestImageSpec } from '../test/helpers/test-images.js';

const RUNS = Number(process.env.RUNS ?? 40);
const ROWS = Number(process.env.ROWS ?? 1_000_000);
const UPDATE_RUNS = Number(process.env.UPDATE_RUNS ?? 5);

interface Stat {
  p50: number;
  max: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
}

function fmt(s: Stat): string {
  return `p50 ${s.p50.toFixed(2)} ms (max ${s.max.toFixed(2)})`;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const prefix = process.env.PREFIX ?? 'pgmtest-engine-xbench';
  // Built from this checkout (the compiled bench lives under node_modules/.cache).
  const image = await buildTreeImage(engineTestImageSpec(process.cwd()), {
    base: process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie',
    log: createLogger({ level: 'info', name: 'xact-bench' }),
  });
  const cluster = await startPgCluster({ prefix, workers: 2, extras: 1, image });
  const connect = async (url: string) => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  try {
    const coord = await connect(cluster.coordinator.url);
    const plain = await connect(cluster.extras[0]!.url);
    await installEngine(coord);
    for (const g of ['w1', 'w2']) {
      await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [g, [`${prefix}-${g}`]]);
    }
    const ddl = `CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
      CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL)`;
    await coord.query(ddl);
    await plain.query(ddl);
    await coord.query("SELECT pgmesh.create_distributed_table('accounts', 'id', 4)");
    await coord.query("SELECT pgmesh.create_distributed_table('items', 'id', 4)");
    const fill = 'INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 64) g';
    await coord.query(fill);
    await plain.query(fill);

    // Accounts by group (tableoid inside a block: not a direct read).
    await coord.query('BEGIN');
    const placed = await coord.query<{ id: number; g: string }>(
      `SELECT a.id, s.group_name AS g FROM accounts a JOIN pgmesh.shards s
         ON s.relid = 'accounts'::regclass AND 'pgmesh_part.' || s.partition = a.tableoid::regclass::text`,
    );
    await coord.query('COMMIT');
    const on = (g: string) => placed.rows.filter((r) => r.g === g).map((r) => r.id);
    const [w1, w2] = [on('w1'), on('w2')];
    if (w1.length < 2 || w2.length < 1) throw new Error('accounts not spread over both groups');

    const transfer = (c: pg.Client, a: number, b: number) => async () => {
      await c.query('BEGIN');
      await c.query('UPDATE accounts SET balance = balance - 1 WHERE id = $1', [a]);
      await c.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [b]);
      await c.query('COMMIT');
    };
    const one: number[] = [];
    const two: number[] = [];
    const single: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const fns = [
        async () => one.push(await timed(transfer(coord, w1[0]!, w1[1]!))),
        async () => two.push(await timed(transfer(coord, w1[0]!, w2[0]!))),
        async () => single.push(await timed(transfer(plain, w1[0]!, w2[0]!))),
      ];
      for (let j = 0; j < fns.length; j++) await fns[(i + j) % fns.length]!();
    }
    const [s1, s2, sp] = [stat(one), stat(two), stat(single)];
    console.log(`transaction writing one group:  ${fmt(s1)}`);
    console.log(
      `transaction writing two groups: ${fmt(s2)}  ratio ${(s2.p50 / s1.p50).toFixed(2)} (target <= 2.5)`,
    );
    console.log(`the same on a plain PostgreSQL: ${fmt(sp)}`);

    // 1000-row multi-row INSERT over every group.
    let next = 1;
    const insert = (c: pg.Client, start: number) => () => {
      const values = Array.from({ length: 1000 }, (_, k) => `(${start + k}, ${k})`).join(',');
      return c.query(`INSERT INTO items VALUES ${values}`);
    };
    const ins: number[] = [];
    const insPlain: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = next;
      next += 1000;
      const fns = [
        async () => ins.push(await timed(insert(coord, start))),
        async () => insPlain.push(await timed(insert(plain, start))),
      ];
      for (let j = 0; j < fns.length; j++) await fns[(i + j) % fns.length]!();
    }
    const [si, sip] = [stat(ins), stat(insPlain)];
    console.log(`1000-row INSERT through the coordinator: ${fmt(si)}`);
    console.log(
      `1000-row INSERT on a plain PostgreSQL:   ${fmt(sip)}  throughput ratio ${(sip.p50 / si.p50).toFixed(2)} (target >= 0.5)`,
    );

    // Keyless UPDATE of 1 % of ROWS rows.
    await coord.query('DELETE FROM items');
    await plain.query('DELETE FROM items');
    const load = `INSERT INTO items SELECT g, 0 FROM generate_series(1, ${ROWS}) g`;
    const loadMs = await timed(() => coord.query(load));
    await plain.query(load);
    await coord.query('ANALYZE items');
    await plain.query('ANALYZE items');
    console.log(`loaded ${ROWS} rows through the coordinator in ${(loadMs / 1000).toFixed(1)} s`);
    const upd: number[] = [];
    const updPlain: number[] = [];
    const update = (c: pg.Client) => () => c.query('UPDATE items SET v = v + 1 WHERE id % 100 = 0');
    for (let i = 0; i < UPDATE_RUNS; i++) {
      const fns = [
        async () => upd.push(await timed(update(coord))),
        async () => updPlain.push(await timed(update(plain))),
      ];
      for (let j = 0; j < fns.length; j++) await fns[(i + j) % fns.length]!();
    }
    const [su, sup] = [stat(upd), stat(updPlain)];
    console.log(`keyless UPDATE of 1 % of ${ROWS} rows through the coordinator: ${fmt(su)}`);
    console.log(
      `the same on a plain PostgreSQL: ${fmt(sup)}  ratio ${(su.p50 / sup.p50).toFixed(2)}`,
    );
    await coord.end();
    await plain.end();
  } finally {
    if (process.env.KEEP !== '1') await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
