/**
 * A short smoke of `pgmesh bench` and `pgmesh load` on the e2e cluster: tiny sizes, real
 * assertions (finite latencies and ratios, recall, JSON, rows loaded and readable, a
 * malformed line refused with file and line and nothing loaded). The numbers themselves
 * are the full bench's business (docs/benchmarks.md).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../agent/bench/report.js';
import { generateRows } from '../../agent/bench/dataset.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { runCli } from '../helpers/cli.js';
import { connect, defaultCluster } from '../helpers/cluster.js';
import { waitEngineInSync } from '../helpers/gitops.js';

let m: ClusterManifest;
let rw: pg.Client;
let dir: string;
const LOAD_PREFIX = 'e2e-load-';
const N = 120;

async function countIn(prefix: string): Promise<number> {
  const r = await rw.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM memory.memory_entries WHERE starts_with(namespace, $1)',
    [prefix],
  );
  return r.rows[0]!.n;
}

async function purge(prefix: string): Promise<void> {
  const ns = await rw.query<{ namespace: string }>(
    'SELECT DISTINCT namespace FROM memory.memory_entries WHERE starts_with(namespace, $1)',
    [prefix],
  );
  for (const { namespace } of ns.rows) {
    await rw.query('DELETE FROM memory.memory_entries WHERE namespace = $1', [namespace]);
  }
}

beforeAll(async () => {
  m = await defaultCluster();
  await runCli(['resume']);
  await waitEngineInSync(m);
  rw = await connect(m, 'read-write');
  dir = await mkdtemp(join(tmpdir(), 'pgmesh-bench-e2e-'));
  await purge(LOAD_PREFIX);
});

afterAll(async () => {
  if (rw) {
    await purge(LOAD_PREFIX).catch(() => undefined);
    await rw.end();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('pgmesh bench (smoke)', () => {
  it('runs every workload against the cluster and the baseline and writes JSON', async () => {
    const out = join(dir, 'bench.json');
    const r = await runCli([
      'bench',
      '--rows',
      '400',
      '--namespaces',
      '4',
      '--ops',
      '20',
      '--warmup',
      '3',
      '--recall-queries',
      '10',
      '--bulk-rounds',
      '2',
      '--profile-runs',
      '6',
      '--prefix',
      'e2e-bench-',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // The table is printed, with a verdict per row.
    expect(r.stdout).toMatch(/single-shard write .*(met|MISSED)/);
    const report = JSON.parse(await readFile(out, 'utf8')) as BenchReport;
    expect(report.workloads.map((w) => w.name)).toEqual([
      'single-shard write',
      'single-shard read',
      'namespace vector top-10',
      'global vector top-10',
      'bulk load (pgmesh load vs COPY)',
    ]);
    for (const w of report.workloads) {
      for (const side of [w.cluster, w.baseline]) {
        expect(side.n, w.name).toBeGreaterThan(0);
        for (const x of [side.p50, side.p95, side.p99, side.throughput]) {
          expect(Number.isFinite(x) && x > 0, `${w.name}: ${x}`).toBe(true);
        }
        expect(side.p50).toBeLessThanOrEqual(side.p99);
      }
      expect(Number.isFinite(w.ratio) && w.ratio > 0, w.name).toBe(true);
      expect(typeof w.met).toBe('boolean');
    }
    expect(report.recall.map((x) => x.name)).toEqual(['global', 'namespace-filtered']);
    for (const x of report.recall) expect(x.cluster, x.name).toBeGreaterThanOrEqual(0.95);
    expect(report.profile).toHaveLength(3);
    for (const p of report.profile) {
      for (const v of Object.values(p.medians)) expect(Number.isFinite(v) && v > 0).toBe(true);
    }
    expect(report.machine.nproc).toBeGreaterThan(0);
    // The bench cleans up after itself.
    expect(await countIn('e2e-bench-')).toBe(0);
  });
});

describe('pgmesh load', () => {
  it('loads N rows from JSONL over every worker group, and they read back', async () => {
    const rows = generateRows({
      seed: 5,
      rows: N,
      namespaces: 12,
      dims: 384,
      centroids: 10,
      noise: 0.04,
      prefix: LOAD_PREFIX,
    });
    const file = join(dir, 'rows.jsonl');
    await writeFile(
      file,
      rows
        .map((x) =>
          JSON.stringify({
            namespace: x.namespace,
            id: x.id,
            key: x.key,
            content: x.content,
            metadata: JSON.parse(x.metadata) as unknown,
            embedding: JSON.parse(x.embedding) as unknown,
          }),
        )
        .join('\n'),
    );
    const r = await runCli(['load', 'memory.memory_entries', file]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toContain(`loaded ${N} rows into memory.memory_entries`);
    expect(await countIn(LOAD_PREFIX)).toBe(N);
    const one = rows[17]!;
    const back = await rw.query(
      'SELECT key, content, metadata, embedding::text AS embedding FROM memory.memory_entries WHERE namespace = $1 AND id = $2',
      [one.namespace, one.id],
    );
    expect(back.rows).toHaveLength(1);
    expect(back.rows[0]).toMatchObject({ key: one.key, content: one.content });
    expect(back.rows[0].metadata).toEqual(JSON.parse(one.metadata));
  });

  it('refuses a malformed line, naming the file and the line, and loads nothing', async () => {
    const file = join(dir, 'bad.csv');
    await writeFile(
      file,
      `namespace,content\n${LOAD_PREFIX}bad,one\n${LOAD_PREFIX}bad,two\n${LOAD_PREFIX}bad,"three\n`,
    );
    const r = await runCli(['load', 'memory.memory_entries', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `PGMESH_LOAD_INPUT: ${file}:4: a quoted field is not closed; nothing was loaded`,
    );
    expect(await countIn(`${LOAD_PREFIX}bad`)).toBe(0);
  });
});
