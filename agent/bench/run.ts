/**
 * One bench run: seeded data into the cluster (through `pgmesh load`'s path) and into a
 * baseline PostgreSQL, then the workloads interleaved, recall@10 against exact search,
 * and the per-hop profile. Clients, Docker and progress come in through the options.
 */
import { cpus, release, totalmem } from 'node:os';
import type pg from 'pg';
import type { Docker } from '../docker/client.js';
import { CopyFromQuery } from '../load/copy-from.js';
import { copyLine } from '../load/parse.js';
import { loadTable } from '../load/load.js';
import type { ProgressBar } from '../cli/progress-bar.js';
import { baselineSchemaSql, startBaseline, type Baseline } from './baseline.js';
import {
  generateQueries,
  generateRows,
  namespaceName,
  type DatasetOptions,
  type MemoryRow,
} from './dataset.js';
import { compare, expectRows, interleave, type Paired, type WorkloadResult } from './measure.js';
import { profileQueries, shardOf, type ProfileQuery, type ProfileRow } from './profile.js';
import { measureRecall, type RecallResult } from './recall.js';
import type { BenchReport, Machine } from './report.js';
import { mulberry32 } from './rng.js';
import { summarize } from './stats.js';
import type { ClusterTarget } from './target.js';

export interface BenchOptions {
  target: ClusterTarget;
  docker: Docker;
  dataset: DatasetOptions;
  /** Timed operations per latency workload (after `warmup`). */
  ops: number;
  warmup: number;
  recallQueries: number;
  bulkRounds: number;
  profileRuns: number;
  image: string;
  baselineName: string;
  /** Keep the bench's rows in the cluster and the baseline container afterwards. */
  keep: boolean;
  command: string;
  onProgress: (line: string) => void;
  progressBar: (label: string, total: number) => ProgressBar;
}

const TABLE = 'memory.memory_entries';
const COLUMNS = ['namespace', 'id', 'key', 'content', 'metadata', 'embedding'] as const;
const INSERT = `INSERT INTO ${TABLE} (namespace, id, key, content, metadata, embedding) VALUES ($1, $2, $3, $4, $5::jsonb, $6::vector)`;
const POINT = `SELECT namespace, id, key, content, metadata FROM ${TABLE} WHERE namespace = $1 AND id = $2`;
const NS_TOPK = (t: string) =>
  `SELECT id::text AS id FROM ${t} WHERE namespace = $1 ORDER BY embedding <=> $2::vector LIMIT 10`;
const GLOBAL_TOPK = (t: string) =>
  `SELECT id::text AS id FROM ${t} ORDER BY embedding <=> $1::vector LIMIT 10`;

export function machine(): Machine {
  const c = cpus();
  return {
    nproc: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    cpu: c[0]?.model.trim() ?? 'unknown',
    node: process.versions.node,
  };
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function rowValues(r: MemoryRow): string[] {
  return [r.namespace, r.id, r.key, r.content, r.metadata, r.embedding];
}

/** The rows as the CSV a user would hand to `pgmesh load`. */
export function toCsv(rows: readonly MemoryRow[]): string {
  return (
    `${COLUMNS.join(',')}\n` +
    rows.map((r) => rowValues(r).map(csvField).join(',')).join('\n') +
    '\n'
  );
}

async function copyPlain(c: pg.Client, rows: readonly MemoryRow[]): Promise<number> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < rows.length; i += 200) {
    chunks.push(
      Buffer.from(
        rows
          .slice(i, i + 200)
          .map((r) => copyLine(rowValues(r)))
          .join(''),
      ),
    );
  }
  const q = new CopyFromQuery(`COPY ${TABLE} (${COLUMNS.join(', ')}) FROM STDIN`, chunks);
  c.query(q as unknown as pg.Submittable);
  return q.done;
}

/** Deletes the bench's namespaces from the cluster, one namespace (one group) at a time. */
async function purge(c: pg.Client, prefix: string): Promise<number> {
  const ns = await c.query<{ namespace: string }>(
    `SELECT DISTINCT namespace FROM ${TABLE} WHERE starts_with(namespace, $1)`,
    [prefix],
  );
  let n = 0;
  for (const { namespace } of ns.rows) {
    n += (await c.query(`DELETE FROM ${TABLE} WHERE namespace = $1`, [namespace])).rowCount ?? 0;
  }
  return n;
}

/**
 * Rows of the cluster's table that are not the bench's (other users of the cluster) are
 * copied to the baseline too, so a global query sees the same data on both sides.
 */
async function mirrorOthers(
  cluster: pg.Client,
  baseline: pg.Client,
  prefix: string,
  onProgress: (line: string) => void,
): Promise<number> {
  let copied = 0;
  let after: [string, string] = ['', '00000000-0000-0000-0000-000000000000'];
  for (;;) {
    const page = await cluster.query<Record<string, string | null>>(
      `SELECT namespace, id::text AS id, key, content, metadata::text AS metadata, embedding::text AS embedding,
              created_at::text AS created_at, updated_at::text AS updated_at
         FROM ${TABLE} WHERE NOT starts_with(namespace, $1) AND (namespace, id) > ($2, $3::uuid)
        ORDER BY namespace, id LIMIT 2000`,
      [prefix, after[0], after[1]],
    );
    if (page.rows.length === 0) break;
    const cols = [
      'namespace',
      'id',
      'key',
      'content',
      'metadata',
      'embedding',
      'created_at',
      'updated_at',
    ];
    const q = new CopyFromQuery(`COPY ${TABLE} (${cols.join(', ')}) FROM STDIN`, [
      Buffer.from(page.rows.map((r) => copyLine(cols.map((k) => r[k] ?? null))).join('')),
    ]);
    baseline.query(q as unknown as pg.Submittable);
    copied += await q.done;
    const last = page.rows[page.rows.length - 1]!;
    after = [last.namespace!, last.id!];
    onProgress(`copied ${copied} rows that are not the bench's to the baseline`);
  }
  return copied;
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const started = performance.now();
  const d = o.dataset;
  if (d.rows / d.namespaces < 10) {
    throw new Error(
      `--rows ${d.rows} over --namespaces ${d.namespaces} leaves fewer than 10 rows per namespace`,
    );
  }
  const say = o.onProgress;
  const rw = await o.target.connect('read-write');
  const ro = await o.target.connect('read-only');
  let baseline: Baseline | undefined;
  const clients: pg.Client[] = [rw, ro];
  try {
    const meta = await rw.query<{ n: number; g: number; t: string | null }>(
      `SELECT (SELECT count(*)::int FROM pgmesh.shards WHERE relid = to_regclass($1)) AS n,
              (SELECT count(DISTINCT group_name)::int FROM pgmesh.shards WHERE relid = to_regclass($1)) AS g,
              (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = to_regclass($1) AND attname = 'embedding') AS t`,
      [TABLE],
    );
    const { n: shards, g: groups, t: embType } = meta.rows[0]!;
    if (!shards) {
      throw new Error(
        `${TABLE} is not a distributed table on cluster ${o.target.name} (has the agent finished converging?)`,
      );
    }
    if (embType !== `vector(${d.dims})`) {
      throw new Error(
        `${TABLE}.embedding is ${embType} on cluster ${o.target.name}; run with --dims matching it`,
      );
    }

    baseline = await startBaseline({
      name: o.baselineName,
      image: o.image,
      sharedBuffers: o.target.manifest.spec.postgres.sharedBuffers,
      onProgress: (l) => say(`baseline: ${l}`),
    });
    const bc = await baseline.connect();
    const bx = await baseline.connect();
    clients.push(bc, bx);
    await bc.query(baselineSchemaSql(d.dims));
    // The database-level setting applies to new sessions: set it on these two as well.
    for (const c of [bc, bx]) await c.query('SET hnsw.iterative_scan = strict_order');

    const removed = await purge(rw, d.prefix);
    if (removed) say(`removed ${removed} rows of an earlier bench run from the cluster`);
    const others = await mirrorOthers(rw, bc, d.prefix, (l) => say(`baseline: ${l}`));

    // Bulk load: the data set itself, in rounds, cluster and baseline alternating.
    say(
      `generating ${d.rows} rows over ${d.namespaces} namespaces (${d.dims} dims, seed ${d.seed})`,
    );
    const rows = generateRows(d);
    const rounds = Math.max(1, Math.min(o.bulkRounds, rows.length));
    const per = Math.ceil(rows.length / rounds);
    const bulk: Paired = { cluster: [], baseline: [] };
    for (let r = 0; r < rounds; r++) {
      const part = rows.slice(r * per, (r + 1) * per);
      const csv = toCsv(part);
      const clusterSide = async () => {
        let bar: ProgressBar | undefined;
        const res = await loadTable({
          connect: () => o.target.connect('read-write'),
          table: TABLE,
          format: 'csv',
          file: `bench data, round ${r + 1}`,
          chunks: [csv],
          analyze: false,
          onStart: (total) => (bar = o.progressBar(`load cluster ${r + 1}/${rounds}`, total)),
          onProgress: (sent) => bar?.update(sent),
        });
        bar?.stop();
        if (res.rows !== part.length)
          throw new Error(`bulk load: ${res.rows} of ${part.length} rows loaded`);
        bulk.cluster.push(res.copyMs);
      };
      const baselineSide = async () => {
        say(`bulk: round ${r + 1}/${rounds}: COPY ${part.length} rows into the baseline`);
        const t0 = performance.now();
        await copyPlain(bc, part);
        bulk.baseline.push(performance.now() - t0);
      };
      if (r % 2 === 0) {
        await clusterSide();
        await baselineSide();
      } else {
        await baselineSide();
        await clusterSide();
      }
      say(
        `bulk: round ${r + 1}/${rounds}: cluster ${(bulk.cluster[r]! / 1000).toFixed(1)} s, baseline ${(bulk.baseline[r]! / 1000).toFixed(1)} s for ${part.length} rows`,
      );
    }
    say('ANALYZE on both sides');
    await rw.query(`ANALYZE ${TABLE}`);
    await bc.query(`ANALYZE ${TABLE}`);
    const bulkResult = bulkWorkload(bulk, rows.length);

    const rng = mulberry32(d.seed + 7);
    const pick = () => rows[Math.floor(rng() * rows.length)]!;
    const anyNs = () => namespaceName(d, Math.floor(rng() * d.namespaces));
    const n = o.ops;
    const w = o.warmup;
    const workloads: WorkloadResult[] = [];

    say(`single-shard write: ${n} INSERTs each side`);
    const writes = generateRows({
      ...d,
      seed: d.seed + 1,
      rows: n + w,
      namespaces: 1,
      prefix: `${d.prefix}write-`,
    });
    const writeP = await interleave(n, w, (i) => {
      const p = rowValues(writes[i]!);
      return {
        cluster: () => expectRows(rw, INSERT, p, 1, 'write (cluster)'),
        baseline: () => expectRows(bc, INSERT, p, 1, 'write (baseline)'),
      };
    });
    workloads.push(
      compare('single-shard write', writeP, { comparator: '<=', value: 2.0, of: 'p50' }),
    );

    say(`single-shard read (read-only port ${o.target.readOnlyPort}): ${n} point reads each side`);
    const readP = await interleave(n, w, () => {
      const r = pick();
      return {
        cluster: () => expectRows(ro, POINT, [r.namespace, r.id], 1, 'read (cluster)'),
        baseline: () => expectRows(bc, POINT, [r.namespace, r.id], 1, 'read (baseline)'),
      };
    });
    workloads.push(
      compare('single-shard read', readP, { comparator: '<=', value: 1.5, of: 'p50' }),
    );

    const qs = generateQueries(d, 2 * (n + w));
    say(`namespace vector top-10: ${n} queries each side`);
    const nsP = await interleave(n, w, (i) => {
      const p = [anyNs(), qs[i]!];
      return {
        cluster: () => expectRows(rw, NS_TOPK(TABLE), p, 10, 'namespace top-10 (cluster)'),
        baseline: () => expectRows(bc, NS_TOPK(TABLE), p, 10, 'namespace top-10 (baseline)'),
      };
    });
    workloads.push(
      compare('namespace vector top-10', nsP, { comparator: '<=', value: 1.5, of: 'p50' }),
    );

    say(`global vector top-10 over ${shards} shards: ${n} queries each side`);
    const gP = await interleave(n, w, (i) => {
      const p = [qs[n + w + i]!];
      return {
        cluster: () => expectRows(rw, GLOBAL_TOPK(TABLE), p, 10, 'global top-10 (cluster)'),
        baseline: () => expectRows(bc, GLOBAL_TOPK(TABLE), p, 10, 'global top-10 (baseline)'),
      };
    });
    workloads.push(
      compare(
        'global vector top-10',
        gP,
        { comparator: '<=', value: 1.5, of: 'p50' },
        'baseline: the same query on one PostgreSQL holding all the data',
      ),
    );
    workloads.push(bulkResult);

    say(`recall@10 against exact search: ${o.recallQueries} queries, global and per namespace`);
    const rq = generateQueries({ ...d, seed: d.seed + 3 }, o.recallQueries);
    const recall: RecallResult[] = [
      await measureRecall(
        'global',
        rw,
        bc,
        bx,
        GLOBAL_TOPK(TABLE),
        rq.map((q) => [q]),
      ),
      await measureRecall(
        'namespace-filtered',
        rw,
        bc,
        bx,
        NS_TOPK(TABLE),
        rq.map((q) => [anyNs(), q]),
      ),
    ];

    say(`profile: ${o.profileRuns} runs per query at each hop`);
    const profile = await profileHops(o, rw, rows, qs);

    return {
      command: o.command,
      date: new Date().toISOString(),
      machine: machine(),
      cluster: { name: o.target.name, workerGroups: groups, shards },
      dataset: { ...d, otherRowsMirrored: others, ops: n, warmup: w, bulkRounds: rounds },
      workloads,
      recall,
      profile,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (!o.keep) {
      const removed = await purge(rw, d.prefix).catch(() => 0);
      if (removed) say(`removed the bench's ${removed} rows from the cluster`);
      await baseline?.remove();
    }
    for (const c of clients) await c.end().catch(() => undefined);
  }
}

function bulkWorkload(p: Paired, rows: number): WorkloadResult {
  const cluster = summarize(p.cluster);
  const baseline = summarize(p.baseline);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  cluster.throughput = (rows * 1000) / sum(p.cluster);
  baseline.throughput = (rows * 1000) / sum(p.baseline);
  const ratio = cluster.throughput / baseline.throughput;
  return {
    name: 'bulk load (pgmesh load vs COPY)',
    unit: 'rows',
    cluster,
    baseline,
    ratio,
    ratioOf: 'throughput',
    target: { comparator: '>=', value: 1.0, of: 'rows/s' },
    met: ratio >= 1.0,
    note: 'latencies are per load round',
  };
}

async function profileHops(
  o: BenchOptions,
  rw: pg.Client,
  rows: readonly MemoryRow[],
  qs: readonly string[],
): Promise<ProfileRow[]> {
  const d = o.dataset;
  const ns = namespaceName(d, 0);
  const { group, shardTable } = await shardOf(rw, TABLE, ns);
  const inNs = rows.filter((r) => r.namespace === ns);
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const k = o.profileRuns;
  const point = (t: string) =>
    Array.from({ length: k }, (_, i) => {
      const r = inNs[i % inNs.length]!;
      return `SELECT namespace, id, key, content, metadata FROM ${t} WHERE namespace = ${lit(ns)} AND id = ${lit(r.id)}`;
    });
  const nsq = (t: string) =>
    Array.from(
      { length: k },
      (_, i) =>
        `SELECT id FROM ${t} WHERE namespace = ${lit(ns)} ORDER BY embedding <=> ${lit(qs[i % qs.length]!)}::vector LIMIT 10`,
    );
  const gq = (t: string) =>
    Array.from(
      { length: k },
      (_, i) =>
        `SELECT id FROM ${t} ORDER BY embedding <=> ${lit(qs[(i + 7) % qs.length]!)}::vector LIMIT 10`,
    );
  const queries: ProfileQuery[] = [
    { name: 'point read', coordinator: point(TABLE), worker: point(shardTable), group },
    { name: 'namespace top-10', coordinator: nsq(TABLE), worker: nsq(shardTable), group },
    {
      name: 'global top-10 (worker: one shard)',
      coordinator: gq(TABLE),
      worker: gq(shardTable),
      group,
    },
  ];
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.target.database)) {
    throw new Error(`database name ${o.target.database} is not a plain identifier`);
  }
  const result = await profileQueries(
    o.docker,
    o.target.name,
    o.target.manifest.spec.coordinator.name,
    o.target.database,
    queries,
  );
  // The same statements from this host through the endpoint, for the first column.
  for (const [i, q] of queries.entries()) {
    const times: number[] = [];
    for (const s of q.coordinator) {
      const t0 = performance.now();
      await rw.query(s);
      times.push(performance.now() - t0);
    }
    result[i]!.host = summarize(times.slice(3)).p50;
  }
  return result;
}
