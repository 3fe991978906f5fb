/** Registers `pgmesh bench` and `pgmesh load` (their bodies live in agent/bench and agent/load). */
import { isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { createDocker } from '../docker/client.js';
import { repoRoot } from '../cli/host.js';
import { info, out, progress, table } from '../cli/output.js';
import { createProgressBar } from '../cli/progress-bar.js';
import { addTargetOptions, registerLoadCommand } from '../load/cli.js';
import { DEFAULT_DATASET } from './dataset.js';
import { profileRows, recallRows, workloadRows, writeDocs, writeJson } from './report.js';
import { runBench } from './run.js';
import { resolveTarget, type TargetFlags } from './target.js';

interface BenchFlags extends TargetFlags {
  rows: string;
  namespaces: string;
  dims: string;
  centroids: string;
  noise: string;
  seed: string;
  prefix: string;
  ops: string;
  warmup: string;
  recallQueries: string;
  bulkRounds: string;
  profileRuns: string;
  image: string;
  baselineName?: string;
  out: string;
  writeDocs: boolean;
  keep: boolean;
}

function int(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${flag}: ${JSON.stringify(value)} is not an integer >= ${min}`);
  return n;
}

export function registerBenchCommands(program: Command): void {
  registerLoadCommand(program);
  const d = DEFAULT_DATASET;
  addTargetOptions(
    program
      .command('bench')
      .description(
        'benchmark the cluster through its endpoint against a plain PostgreSQL baseline (docs/benchmarks.md)',
      ),
  )
    .option('--rows <n>', 'rows of seeded data', String(d.rows))
    .option('--namespaces <n>', 'namespaces the rows are spread over', String(d.namespaces))
    .option('--dims <n>', 'vector dimensions (must match memory.memory_entries)', String(d.dims))
    .option('--centroids <n>', 'clusters of the vectors', String(d.centroids))
    .option('--noise <x>', 'gaussian noise around a centroid (per component)', String(d.noise))
    .option('--seed <n>', 'data seed', String(d.seed))
    .option('--prefix <text>', "namespace prefix of the bench's rows", d.prefix)
    .option('--ops <n>', 'timed operations per latency workload', '200')
    .option('--warmup <n>', 'untimed operations before each workload', '20')
    .option('--recall-queries <n>', 'queries for recall@10', '50')
    .option(
      '--bulk-rounds <n>',
      'rounds the bulk load is split into (cluster and baseline alternate)',
      '4',
    )
    .option('--profile-runs <n>', 'runs per query at each hop of the profile', '30')
    .option('--image <ref>', 'image of the baseline PostgreSQL', 'pgmesh/pgnode:latest')
    .option(
      '--baseline-name <name>',
      'baseline container name (default pgmtest-bench-baseline-<cluster>)',
    )
    .option('--out <file>', 'JSON results', 'bench/results/latest.json')
    .option('--write-docs', 'rewrite the results block of docs/benchmarks.md', false)
    .option('--keep', "keep the bench's rows in the cluster and the baseline container", false)
    .action(async (flags: BenchFlags) => {
      const docker = createDocker();
      const target = await resolveTarget(docker, flags);
      const prefix = flags.prefix;
      if (!/^[a-z0-9][a-z0-9_-]*$/i.test(prefix))
        throw new Error(`--prefix ${JSON.stringify(prefix)}: letters, digits, - and _ only`);
      const noise = Number(flags.noise);
      if (!(noise >= 0))
        throw new Error(`--noise ${JSON.stringify(flags.noise)} is not a number >= 0`);
      const report = await runBench({
        target,
        docker,
        dataset: {
          seed: int('seed', flags.seed, 0),
          rows: int('rows', flags.rows, 10),
          namespaces: int('namespaces', flags.namespaces, 1),
          dims: int('dims', flags.dims, 1),
          centroids: int('centroids', flags.centroids, 1),
          noise,
          prefix,
        },
        ops: int('ops', flags.ops, 1),
        warmup: int('warmup', flags.warmup, 0),
        recallQueries: int('recall-queries', flags.recallQueries, 1),
        bulkRounds: int('bulk-rounds', flags.bulkRounds, 1),
        profileRuns: int('profile-runs', flags.profileRuns, 4),
        image: flags.image,
        baselineName: flags.baselineName ?? `pgmtest-bench-baseline-${target.name}`,
        keep: flags.keep,
        command: `pgmesh ${process.argv.slice(2).join(' ')}`,
        onProgress: progress('bench: '),
        progressBar: (label, total) => createProgressBar({ label, total }),
      });
      out(table(workloadRows(report.workloads)));
      out('');
      out(table(recallRows(report.recall)));
      out('');
      out(table(profileRows(report.profile)));
      const file = isAbsolute(flags.out) ? flags.out : join(process.cwd(), flags.out);
      await writeJson(file, report);
      info(`bench: results written to ${file}`);
      if (flags.writeDocs) {
        const docs = join(repoRoot(), 'docs', 'benchmarks.md');
        await writeDocs(docs, report);
        info(`bench: table written to ${docs}`);
      }
      const missed = [...report.workloads, ...report.recall].filter((w) => !w.met).length;
      info(
        `bench: ${missed === 0 ? 'every target met' : `${missed} target(s) missed`} (${report.seconds.toFixed(0)} s)`,
      );
    });
}
