/**
 * Schema changes through the coordinator reach every shard (issue #14): real PostgreSQL
 * 17 containers (a coordinator with the pgmesh module, two worker groups, and a plain
 * server holding the same schema and rows as the reference). After every statement the
 * catalog of every shard (columns, defaults, NOT NULL, constraints, indexes and their
 * validity) is compared with the coordinator's, and the rows with the plain server's;
 * constraint violations give the plain server's SQLSTATE; refused DDL changes nothing;
 * DDL while a group's primary is down changes nothing anywhere.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installEngine } from '../../agent/engine/install.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-containers.js';
import {
  coordinatorCatalog,
  shardCatalog,
  shardsOf,
  type TableCatalog,
} from '../helpers/shard-catalog.js';

/** PGMESH_ENGINE_PREFIX lets parallel checkouts run this file side by side. */
const PREFIX = process.env.PGMESH_ENGINE_PREFIX
  ? `${process.env.PGMESH_ENGINE_PREFIX}-ddl`
  : 'pgmtest-engine-ddl-it';

let cluster: PgCluster;
let coord: pg.Client;
let plain: pg.Client;
const workers = new Map<string, pg.Client>();

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

const SCHEMA = `
  CREATE SCHEMA shop;
  CREATE TABLE shop.countries (
    code text PRIMARY KEY, name text NOT NULL, added date, tags text[], meta jsonb,
    area numeric(12,2), tz interval, ip inet, flag bytea, ratio double precision, ts timestamptz);
  CREATE TABLE shop.customers (
    tenant_id int NOT NULL, id int NOT NULL, name text NOT NULL, email text,
    PRIMARY KEY (tenant_id, id));
  CREATE TABLE shop.orders (
    tenant_id int NOT NULL, id int NOT NULL, customer_id int NOT NULL, country text,
    qty int NOT NULL DEFAULT 1, price numeric(10,2), created_at timestamptz,
    PRIMARY KEY (tenant_id, id));
  CREATE INDEX orders_customer ON shop.orders (tenant_id, customer_id);
  CREATE TABLE shop.order_items (
    tenant_id int NOT NULL, order_id int NOT NULL, line int NOT NULL, sku text NOT NULL,
    qty int NOT NULL, PRIMARY KEY (tenant_id, order_id, line));
  CREATE TABLE shop.audit (tenant_id int NOT NULL, id int NOT NULL, what text);`;

const DATA = `
  INSERT INTO shop.countries VALUES
    ('de', 'Germany', '2020-01-02', '{a,b}', '{"eu": true}', 357588.12, '1 day 2 hours', '10.0.0.1', '\\x00ff', 0.1, '2024-05-06 07:08:09+02'),
    ('fr', 'France', NULL, '{}', '[1, 2]', 551695, '-3 hours', '::1', '\\x', 1e-300, NULL),
    ('it', 'Italy', '2021-03-04', NULL, NULL, NULL, NULL, NULL, NULL, 'NaN', 'infinity'),
    ('jp', 'Japan', '1999-12-31', '{"x y","q\\"z"}', '{"k": "v''s"}', 1, '1 mon', '192.168.0.0/16', NULL, -0.5, '2000-01-01 00:00:00+09');
  INSERT INTO shop.customers SELECT t, c, 'customer ' || t || '/' || c, CASE WHEN c % 3 = 0 THEN NULL ELSE 'c' || c || '@x' END
    FROM generate_series(1, 6) t, generate_series(1, 10) c;
  INSERT INTO shop.orders SELECT t, o, 1 + o % 10, (ARRAY['de', 'fr', 'it', 'jp'])[1 + o % 4], 1 + o % 7, (o * 3.25)::numeric(10,2),
         timestamptz '2024-01-01 00:00:00+00' + o * interval '1 hour'
    FROM generate_series(1, 6) t, generate_series(1, 40) o;
  INSERT INTO shop.order_items SELECT t, o, l, 'sku-' || (o * l) % 13, l FROM generate_series(1, 6) t, generate_series(1, 40) o, generate_series(1, 3) l;
  INSERT INTO shop.audit SELECT t, i, 'x' FROM generate_series(1, 6) t, generate_series(1, 5) i;`;

const TABLES: Record<string, string> = {
  'shop.countries': 'code',
  'shop.customers': 'tenant_id, id',
  'shop.orders': 'tenant_id, id',
  'shop.order_items': 'tenant_id, order_id, line',
};

async function rowsOf(c: pg.Client, table: string, order: string): Promise<unknown[]> {
  const r = await c.query(`SELECT to_jsonb(t) AS r FROM ${table} t ORDER BY ${order}`);
  return r.rows.map((x: { r: unknown }) => x.r);
}

/** Every shard of the table has the coordinator's definition. */
async function expectShardsAgree(table: string): Promise<TableCatalog> {
  const want = await coordinatorCatalog(coord, table);
  const shards = await shardsOf(coord, table);
  expect(shards.length).toBeGreaterThan(0);
  for (const s of shards) {
    const w = workers.get(s.group);
    if (!w) throw new Error(`no client for group ${s.group}`);
    expect(await shardCatalog(w, s.shard), `${table} shard ${s.shard} on ${s.group}`).toEqual(want);
  }
  return want;
}

async function expectAllAgree(): Promise<void> {
  for (const [table, order] of Object.entries(TABLES)) {
    await expectShardsAgree(table);
    expect(await rowsOf(coord, table, order), `rows of ${table}`).toEqual(
      await rowsOf(plain, table, order),
    );
  }
}

async function sqlstate(c: pg.Client, sql: string): Promise<string> {
  try {
    await c.query(sql);
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

async function both(sql: string): Promise<void> {
  await plain.query(sql);
  await coord.query(sql);
}

beforeAll(async () => {
  cluster = await startPgCluster({
    prefix: PREFIX,
    workers: 2,
    extras: 1,
    image: process.env.ENGINE_IMAGE,
  });
  coord = await connect(cluster.coordinator.url);
  plain = await connect(cluster.extras[0]!.url);
  await installEngine(coord);
  for (const [i, w] of cluster.workers.entries()) {
    const g = `w${i + 1}`;
    await coord.query('SELECT pgmesh.add_worker_group($1, $2)', [g, [w.name]]);
    workers.set(g, await connect(w.url));
  }
  for (const c of [coord, plain]) {
    await c.query(SCHEMA);
    await c.query(DATA);
    // A role that is not a superuser, for DDL by a table's owner.
    await c.query('CREATE ROLE app_owner NOLOGIN; GRANT USAGE, CREATE ON SCHEMA shop TO app_owner');
  }
  // Tables by SQL after a plain CREATE TABLE: existing rows move to the shards.
  await coord.query("SELECT pgmesh.create_reference_table('shop.countries')");
  await coord.query("SELECT pgmesh.create_distributed_table('shop.customers', 'tenant_id', 4)");
  await coord.query(
    "SELECT pgmesh.create_distributed_table('shop.orders', 'tenant_id', colocate_with => 'shop.customers')",
  );
  await coord.query(
    "SELECT pgmesh.create_distributed_table('shop.order_items', 'tenant_id', colocate_with => 'shop.orders')",
  );
  // Another co-location group (3 shards), for the refusals.
  await coord.query("SELECT pgmesh.create_distributed_table('shop.audit', 'tenant_id', 3)");
}, 600_000);

afterAll(async () => {
  for (const c of [coord, plain, ...workers.values()]) await c?.end().catch(() => undefined);
  await cluster?.stop();
});

describe('tables by SQL', () => {
  it('distributes with their constraints and indexes and keeps every row', async () => {
    const orders = await expectShardsAgree('shop.orders');
    expect(orders.constraints).toContainEqual(['p', 'PRIMARY KEY (tenant_id, id)', true]);
    expect(orders.indexes).toContainEqual([false, 'btree (tenant_id, customer_id)']);
    await expectAllAgree();
    const { rows } = await coord.query<{ n: string }>(
      'SELECT count(*) AS n FROM pgmesh.shards WHERE relid = $1::regclass',
      ['shop.order_items'],
    );
    expect(Number(rows[0]?.n)).toBe(4);
  });

  it('sends reference-table writes to every group, for every column type', async () => {
    const writes = [
      "INSERT INTO shop.countries VALUES ('es', 'Spain', '2022-02-02', '{s}', '{\"a\": [1]}', 505990.5, '00:00:01.5', '10.1.2.3/32', '\\x0102', 2.5, '2022-02-02 10:00:00-05')",
      "UPDATE shop.countries SET name = 'Deutschland', tags = '{c,d}' WHERE code = 'de'",
      "INSERT INTO shop.countries (code, name) VALUES ('xq', 'Gone soon'), ('xr', 'Gone too')",
      "DELETE FROM shop.countries WHERE code IN ('xq', 'xr')",
    ];
    for (const sql of writes) await both(sql);
    const want = await rowsOf(plain, 'shop.countries', 'code');
    for (const [g, w] of workers) {
      expect(await rowsOf(w, 'pgmesh_shards.shop_countries_0', 'code'), g).toEqual(want);
    }
    await expectAllAgree();
  });
});

describe('DDL propagation', () => {
  // Each statement runs on the plain server and through the coordinator; afterwards
  // every shard's catalog equals the coordinator's and the rows equal the plain ones.
  const statements = [
    "ALTER TABLE shop.orders ADD COLUMN status text NOT NULL DEFAULT 'new'",
    'ALTER TABLE shop.orders ADD COLUMN note varchar(20), ADD COLUMN weight real DEFAULT 1.5',
    'ALTER TABLE shop.orders ALTER COLUMN note TYPE text',
    "ALTER TABLE shop.orders ALTER COLUMN note SET DEFAULT 'n/a'",
    'ALTER TABLE shop.orders ALTER COLUMN note DROP DEFAULT',
    'ALTER TABLE shop.orders ALTER COLUMN price SET NOT NULL',
    'ALTER TABLE shop.orders ALTER COLUMN price DROP NOT NULL',
    'ALTER TABLE shop.orders ADD CONSTRAINT qty_positive CHECK (qty > 0)',
    'ALTER TABLE shop.orders ADD CONSTRAINT price_cap CHECK (price < 100000) NOT VALID',
    'ALTER TABLE shop.orders VALIDATE CONSTRAINT price_cap',
    'ALTER TABLE shop.orders ADD CONSTRAINT orders_customer_key UNIQUE (tenant_id, customer_id, id)',
    'ALTER TABLE shop.orders ADD CONSTRAINT orders_country_fkey FOREIGN KEY (country) REFERENCES shop.countries (code)',
    'ALTER TABLE shop.orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (tenant_id, customer_id) REFERENCES shop.customers (tenant_id, id) NOT VALID',
    'ALTER TABLE shop.orders VALIDATE CONSTRAINT orders_customer_fkey',
    'ALTER TABLE shop.order_items ADD CONSTRAINT items_order_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES shop.orders (tenant_id, id) ON DELETE CASCADE',
    'CREATE INDEX orders_created ON shop.orders (created_at DESC NULLS LAST)',
    "CREATE INDEX CONCURRENTLY orders_open ON shop.orders (status) WHERE status <> 'done'",
    'CREATE UNIQUE INDEX orders_price_uq ON shop.orders (tenant_id, price, id)',
    'CREATE UNIQUE INDEX CONCURRENTLY items_sku_uq ON shop.order_items (tenant_id, order_id, line, sku)',
    'CREATE INDEX countries_name ON shop.countries (lower(name))',
    'ALTER INDEX shop.orders_created RENAME TO orders_created_at',
    'ALTER TABLE shop.orders RENAME COLUMN qty TO quantity',
    'ALTER TABLE shop.orders RENAME CONSTRAINT qty_positive TO quantity_positive',
    'ALTER TABLE shop.orders RENAME CONSTRAINT orders_country_fkey TO orders_country_ref',
    "ALTER TABLE shop.countries ADD COLUMN iso3 text DEFAULT 'XXX' NOT NULL",
    'ALTER TABLE shop.orders ADD COLUMN "we""ird;col" int DEFAULT 7',
    'ALTER TABLE shop.orders RENAME TO orders_renamed; ALTER TABLE shop.orders_renamed RENAME TO orders',
    'DROP INDEX shop.orders_price_uq',
    'DROP INDEX CONCURRENTLY shop.orders_open',
    'ALTER TABLE shop.orders DROP CONSTRAINT price_cap',
    'ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_key',
    'ALTER TABLE shop.orders DROP COLUMN note',
    "COMMENT ON TABLE shop.orders IS 'orders; by tenant'",
    'GRANT SELECT ON shop.orders TO app_owner',
    'ALTER TABLE shop.customers OWNER TO app_owner; SET ROLE app_owner; ' +
      'ALTER TABLE shop.customers ADD COLUMN tier int DEFAULT 0; ' +
      'CREATE INDEX customers_tier ON shop.customers (tier); RESET ROLE',
    "COMMENT ON COLUMN shop.orders.status IS 'lifecycle'",
  ];
  for (const sql of statements) {
    it(sql, async () => {
      await both(sql);
      await expectAllAgree();
    });
  }

  it('runs routed queries and writes after the changes (dropped columns keep routing)', async () => {
    await both(
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity, price) VALUES (2, 900, 3, 'jp', 4, 12.5)",
    );
    const q =
      'SELECT id, status, quantity, weight, "we""ird;col" FROM shop.orders WHERE tenant_id = 2 ORDER BY id DESC LIMIT 3';
    expect((await coord.query(q)).rows).toEqual((await plain.query(q)).rows);
    const plan = await coord.query(`EXPLAIN (VERBOSE) ${q}`);
    expect(JSON.stringify(plan.rows)).toContain('pgmesh_part.shop_orders_');
    expect(JSON.stringify(plan.rows)).not.toContain('Append');
    await expectAllAgree();
  });

  it('gives the SQLSTATE of a single PostgreSQL for every constraint', async () => {
    const violations = [
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity) VALUES (1, 1000, 1, 'de', -5)",
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity) VALUES (1, 1, 1, 'de', 1)",
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity) VALUES (1, 1001, 1, 'xx', 1)",
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity) VALUES (1, 1002, 99, 'de', 1)",
      "INSERT INTO shop.orders (tenant_id, id, customer_id, country, quantity) VALUES (1, 1003, NULL, 'de', 1)",
      "INSERT INTO shop.order_items VALUES (3, 4000, 1, 'x', 1)",
      'UPDATE shop.orders SET quantity = 0 WHERE tenant_id = 4 AND id = 2',
      "DELETE FROM shop.countries WHERE code = 'de'",
      "UPDATE shop.countries SET code = 'xx' WHERE code = 'it'",
      "INSERT INTO shop.countries (code, name) VALUES ('de', 'again')",
      "INSERT INTO shop.countries (code) VALUES ('zz')",
    ];
    for (const sql of violations) {
      const want = await sqlstate(plain, sql);
      expect(want, sql).toMatch(/^23/);
      expect(await sqlstate(coord, sql), sql).toBe(want);
    }
    // The cascade of a co-located foreign key works on the shard.
    await both('DELETE FROM shop.orders WHERE tenant_id = 5 AND id = 7');
    await expectAllAgree();
  });

  it('refuses what cannot be distributed, with a clear error, and changes nothing', async () => {
    const before = await Promise.all(Object.keys(TABLES).map((t) => expectShardsAgree(t)));
    const refusals: [string, RegExp][] = [
      ['ALTER TABLE shop.orders DROP COLUMN tenant_id', /cannot drop the distribution column/],
      [
        'CREATE UNIQUE INDEX orders_id_only ON shop.orders (id)',
        /must include all partitioning columns/,
      ],
      [
        'ALTER TABLE shop.orders ADD CONSTRAINT id_only UNIQUE (id)',
        /must include all partitioning columns/,
      ],
      [
        'ALTER TABLE shop.audit ADD CONSTRAINT audit_order_fkey FOREIGN KEY (tenant_id, id) REFERENCES shop.orders (tenant_id, id)',
        /crosses co-location groups/,
      ],
      [
        'ALTER TABLE shop.order_items ADD CONSTRAINT items_customer_fkey FOREIGN KEY (order_id, tenant_id) REFERENCES shop.customers (tenant_id, id)',
        /must map distribution column/,
      ],
      [
        'ALTER TABLE shop.orders ADD COLUMN seq_id int GENERATED ALWAYS AS IDENTITY',
        /identity columns cannot be added/,
      ],
      [
        'ALTER TABLE shop.orders ALTER COLUMN quantity TYPE bigint USING quantity * 2',
        /USING is not supported/,
      ],
      [
        'ALTER TABLE shop.orders ADD CONSTRAINT q_big CHECK (quantity > 3)',
        /violated by some row|check constraint/,
      ],
    ];
    for (const [sql, re] of refusals) {
      await expect(coord.query(sql), sql).rejects.toThrow(re);
    }
    const after = await Promise.all(Object.keys(TABLES).map((t) => expectShardsAgree(t)));
    expect(after).toEqual(before);
  });

  it('changes nothing anywhere when a group cannot be reached, and works once it is back', async () => {
    const before = await expectShardsAgree('shop.orders');
    const w2 = await connect(cluster.workers[1]!.url.replace(/\/postgres$/, '/template1'));
    // The group's primary refuses new connections (as a stopped one would); a fresh
    // coordinator session has no cached connection to it. Group w1 comes first, so its
    // shards are changed in the remote transaction before w2 fails.
    await w2.query('ALTER DATABASE postgres ALLOW_CONNECTIONS false');
    const fresh = await connect(cluster.coordinator.url);
    try {
      for (const sql of [
        'ALTER TABLE shop.orders ADD COLUMN during_outage int',
        'CREATE INDEX orders_outage ON shop.orders (id)',
        'ALTER TABLE shop.orders ADD CONSTRAINT outage_check CHECK (id < 100000)',
      ]) {
        await expect(fresh.query(sql), sql).rejects.toThrow(
          /could not connect to server "pgmesh_w2"/,
        );
      }
    } finally {
      await w2.query('ALTER DATABASE postgres ALLOW_CONNECTIONS true');
      await w2.end();
      await fresh.end();
    }
    expect(await coordinatorCatalog(coord, 'shop.orders')).toEqual(before);
    await expectShardsAgree('shop.orders');
    await both('ALTER TABLE shop.orders ADD COLUMN after_outage int');
    await expectAllAgree();
  });

  it('plain SQL over the application schema equals a single PostgreSQL', async () => {
    const queries = [
      'SELECT c.name, count(*) AS n, sum(o.price) AS total FROM shop.orders o JOIN shop.countries c ON c.code = o.country GROUP BY c.name ORDER BY c.name',
      'SELECT o.tenant_id, cu.name, count(i.*) AS items FROM shop.orders o JOIN shop.customers cu ON cu.tenant_id = o.tenant_id AND cu.id = o.customer_id LEFT JOIN shop.order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id WHERE o.tenant_id = 3 GROUP BY 1, 2 ORDER BY 2',
      'SELECT status, quantity, count(*) FROM shop.orders GROUP BY ROLLUP (status, quantity) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST',
      'SELECT * FROM shop.orders WHERE tenant_id = 1 AND id IN (SELECT order_id FROM shop.order_items WHERE tenant_id = 1 AND qty = 3) ORDER BY id',
      "SELECT code, iso3, tags, meta, tz, ip, flag, ratio, ts FROM shop.countries WHERE name ILIKE '%a%' ORDER BY code",
    ];
    for (const q of queries) {
      expect((await coord.query(q)).rows, q).toEqual((await plain.query(q)).rows);
    }
  });

  it('TRUNCATE and DROP TABLE reach the shards', async () => {
    await both('TRUNCATE shop.audit');
    expect((await coord.query('SELECT count(*)::int AS n FROM shop.audit')).rows[0]?.n).toBe(0);
    const shards = await shardsOf(coord, 'shop.audit');
    await both('DROP TABLE shop.audit');
    for (const s of shards) {
      const r = await workers
        .get(s.group)!
        .query('SELECT to_regclass($1) AS t', [`pgmesh_shards.${s.shard}`]);
      expect(r.rows[0]?.t).toBeNull();
    }
    const meta = await coord.query(
      "SELECT count(*)::int AS n FROM pgmesh.distributed_tables WHERE relid::text LIKE '%audit%'",
    );
    expect(meta.rows[0]?.n).toBe(0);
  });

  it('undistributes a table: rows, constraints and indexes come back to the coordinator', async () => {
    await coord.query('ALTER TABLE shop.order_items DROP CONSTRAINT items_order_fkey');
    await plain.query('ALTER TABLE shop.order_items DROP CONSTRAINT items_order_fkey');
    await coord.query("SELECT pgmesh.undistribute_table('shop.order_items')");
    const rel = await coord.query(
      "SELECT relkind FROM pg_class WHERE oid = 'shop.order_items'::regclass",
    );
    expect(rel.rows[0]?.relkind).toBe('r');
    expect(await rowsOf(coord, 'shop.order_items', TABLES['shop.order_items']!)).toEqual(
      await rowsOf(plain, 'shop.order_items', TABLES['shop.order_items']!),
    );
    const idx = await coord.query(
      "SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'shop.order_items'::regclass AND indisvalid",
    );
    expect(idx.rows[0]?.n).toBe(2);
  });
});

describe('a migration tool (node-pg-migrate) through the coordinator', () => {
  it('runs a multi-step migration while a writer keeps inserting', async () => {
    const { runner } = await import('node-pg-migrate');
    const writer = await connect(cluster.coordinator.url);
    const acked: number[] = [];
    const errors: { at: number; message: string }[] = [];
    let longest = 0;
    let stop = false;
    let ready = false;
    const loop = (async () => {
      let id = 0;
      while (!stop) {
        try {
          if (!ready) {
            const t = await writer.query("SELECT to_regclass('app.orders') IS NOT NULL AS ok");
            const d = await writer.query(
              "SELECT count(*)::int AS n FROM pgmesh.distributed_tables WHERE relid::text = 'app.orders'",
            );
            ready = t.rows[0]?.ok === true && d.rows[0]?.n === 1;
            if (!ready) continue;
          }
          id++;
          const t0 = performance.now();
          await writer.query(
            "INSERT INTO app.orders (tenant_id, id, country) VALUES ($1, $2, 'de')",
            [id % 16, id],
          );
          longest = Math.max(longest, performance.now() - t0);
          acked.push(id);
        } catch (err) {
          errors.push({ at: Date.now(), message: (err as Error).message });
        }
      }
    })();
    const started = Date.now();
    await runner({
      databaseUrl: cluster.coordinator.url,
      dir: 'test/fixtures/ddl-migrations',
      direction: 'up',
      migrationsTable: 'pgmigrations',
      singleTransaction: false,
      log: () => undefined,
    });
    // Let the writer run on the final schema for a moment (at least 50 more rows).
    const target = acked.length + 50;
    while (acked.length < target && errors.length < 50) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await loop;
    await writer.end();
    console.log(
      `[migration] ${Date.now() - started} ms, writer: ${acked.length} inserts acknowledged, ` +
        `${errors.length} errors, longest insert (the lock window) ${longest.toFixed(1)} ms`,
    );
    expect(errors).toEqual([]);
    expect(acked.length).toBeGreaterThan(50);
    // Every acknowledged row is there, once, with the migrated columns.
    const rows = await coord.query<{ id: number; status: string; quantity: number }>(
      'SELECT id, status, quantity FROM app.orders ORDER BY id',
    );
    expect(rows.rows.map((r) => r.id)).toEqual(acked);
    expect(new Set(rows.rows.map((r) => `${r.status}/${r.quantity}`))).toEqual(new Set(['new/1']));
    const cat = await expectShardsAgree('app.orders');
    expect(cat.columns.map((c) => c[0])).toEqual([
      'tenant_id',
      'id',
      'country',
      'quantity',
      'status',
    ]);
    expect(cat.indexes).toContainEqual([false, 'btree (status)']);
    expect(cat.constraints).toContainEqual([
      'f',
      'orders_country_fkey FOREIGN KEY (country) REFERENCES ?(code)',
      true,
    ]);
    await expect(
      coord.query("INSERT INTO app.orders (tenant_id, id, country) VALUES (1, -1, 'xx')"),
    ).rejects.toMatchObject({ code: '23503' });
    const done = await coord.query('SELECT count(*)::int AS n FROM public.pgmigrations');
    expect(done.rows[0]?.n).toBe(6);
  });
});
