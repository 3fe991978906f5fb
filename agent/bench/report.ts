/**
 * The bench's results as a table (terminal and Markdown), JSON, and the block of
 * docs/benchmarks.md between its markers. Pure, except writeDocs/writeJson.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { WorkloadResult } from './measure.js';
import type { ProfileRow } from './profile.js';
import type { RecallResult } from './recall.js';

export interface Machine {
  nproc: number;
  memoryGiB: number;
  kernel: string;
  cpu: string;
  node: string;
}

export interface BenchReport {
  command: string;
  date: string;
  machine: Machine;
  cluster: { name: string; workerGroups: number; shards: number };
  dataset: Record<string, unknown>;
  workloads: WorkloadResult[];
  recall: RecallResult[];
  profile: ProfileRow[];
  seconds: number;
}

export const DOCS_BEGIN = '<!-- bench:begin (written by `pgmesh bench --write-docs`) -->';
export const DOCS_END = '<!-- bench:end -->';

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const rate = (x: number) => (Number.isFinite(x) ? x.toFixed(x >= 100 ? 0 : 1) : 'n/a');

function targetText(w: WorkloadResult): string {
  return `${w.target.comparator} ${w.target.value.toFixed(1)}× ${w.target.of}`;
}

/** Rows of the workload table; the first is the header. */
export function workloadRows(ws: readonly WorkloadResult[]): string[][] {
  const header = [
    'workload',
    'cluster /s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'baseline /s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'ratio',
    'target',
    'result',
  ];
  return [
    header,
    ...ws.map((w) => [
      w.name,
      `${rate(w.cluster.throughput)} ${w.unit}`,
      ms(w.cluster.p50),
      ms(w.cluster.p95),
      ms(w.cluster.p99),
      `${rate(w.baseline.throughput)} ${w.unit}`,
      ms(w.baseline.p50),
      ms(w.baseline.p95),
      ms(w.baseline.p99),
      `${w.ratio.toFixed(2)}× ${w.ratioOf}`,
      targetText(w),
      w.met ? 'met' : 'MISSED',
    ]),
  ];
}

export function recallRows(rs: readonly RecallResult[]): string[][] {
  return [
    ['recall@10', 'queries', 'cluster', 'baseline HNSW', 'target', 'result'],
    ...rs.map((r) => [
      r.name,
      String(r.queries),
      r.cluster.toFixed(3),
      r.baseline.toFixed(3),
      `>= ${r.target}`,
      r.met ? 'met' : 'MISSED',
    ]),
  ];
}

export function profileRows(ps: readonly ProfileRow[]): string[][] {
  return [
    [
      'query (median ms)',
      'host→endpoint',
      'HAProxy hop',
      'PgBouncer hop',
      'coordinator PG',
      'worker shard',
      'HAProxy',
      'PgBouncer',
      'coordinator+fdw',
      'worker',
    ],
    ...ps.map((p) => {
      const m = p.medians;
      return [
        p.name,
        p.host === undefined ? 'n/a' : ms(p.host),
        ms(m.haproxy),
        ms(m.pgbouncer),
        ms(m.coordinator),
        ms(m.worker),
        ms(m.haproxy - m.pgbouncer),
        ms(m.pgbouncer - m.coordinator),
        ms(m.coordinator - m.worker),
        ms(m.worker),
      ];
    }),
  ];
}

export function markdownTable(rows: readonly string[][]): string {
  const [head, ...body] = rows;
  if (!head) return '';
  const line = (r: readonly string[]) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}

export function docsBlock(r: BenchReport): string {
  const m = r.machine;
  return [
    DOCS_BEGIN,
    '',
    `Command: \`${r.command}\``,
    '',
    `Date: ${r.date}. Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB memory, Linux ${m.kernel}, Node ${m.node}. ` +
      `Cluster \`${r.cluster.name}\`: ${r.cluster.workerGroups} worker groups, ${r.cluster.shards} shards of memory.memory_entries. ` +
      `Data: ${JSON.stringify(r.dataset)}. Whole run: ${r.seconds.toFixed(0)} s.`,
    '',
    markdownTable(workloadRows(r.workloads)),
    '',
    markdownTable(recallRows(r.recall)),
    '',
    'Where the time goes (median of psql `\\timing` at each hop, from inside the cluster; the last four columns are the differences between hops):',
    '',
    markdownTable(profileRows(r.profile)),
    '',
    DOCS_END,
  ].join('\n');
}

/** Replaces the block between the markers (or appends one) in the docs text. */
export function replaceDocsBlock(text: string, block: string): string {
  const a = text.indexOf(DOCS_BEGIN);
  const b = text.indexOf(DOCS_END);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + DOCS_END.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

export async function writeDocs(path: string, r: BenchReport): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(path, replaceDocsBlock(text, docsBlock(r)));
}

export async function writeJson(path: string, r: BenchReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(r, null, 2)}\n`);
}
