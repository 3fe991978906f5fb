/** `pgmesh load`: the command around loadTable (agent/load/load.ts). */
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { createDocker } from '../docker/client.js';
import { LoadInputError } from '../core/errors.js';
import { resolveTarget, type TargetFlags } from '../bench/target.js';
import { createProgressBar, type ProgressBar } from '../cli/progress-bar.js';
import { info, out, progress } from '../cli/output.js';
import { formatOf, type InputFormat } from './parse.js';
import { loadTable } from './load.js';

interface LoadFlags extends TargetFlags {
  format?: string;
  columns?: string;
  header: boolean;
  analyze: boolean;
}

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option(
      '-m, --manifests <dir>',
      'the cluster of this manifests folder (default: ./manifests, cluster pgmesh)',
    )
    .option('--cluster <name>', 'cluster name (overrides the manifests)')
    .option('--port <n>', "HAProxy's read-write port on 127.0.0.1 (overrides the manifests)")
    .option('--read-only-port <n>', "HAProxy's read-only port (overrides the manifests)")
    .option('--database <name>', 'database (overrides the manifests)');
}

export function registerLoadCommand(program: Command): void {
  addTargetOptions(
    program
      .command('load')
      .description(
        'bulk-load CSV or JSONL into a table through the endpoint, one COPY per worker group in parallel',
      )
      .argument('<table>', 'target table, e.g. memory.memory_entries')
      .argument('[file]', 'input file; - or nothing reads stdin'),
  )
    .option('--format <format>', 'csv or jsonl (default: from the file name)')
    .option(
      '--columns <list>',
      'comma-separated columns (default: the CSV header / the first JSON object)',
    )
    .option('--no-header', 'the CSV has no header row (give --columns)')
    .option('--no-analyze', 'skip ANALYZE after loading')
    .action(async (table: string, file: string | undefined, flags: LoadFlags) => {
      const stdin = file === undefined || file === '-';
      const label = stdin ? 'stdin' : file;
      const format = (flags.format ?? (stdin ? undefined : formatOf(file))) as
        InputFormat | undefined;
      if (format !== 'csv' && format !== 'jsonl') {
        throw new LoadInputError(
          label,
          0,
          'say --format csv or --format jsonl (not known from the name)',
        );
      }
      const chunks = stdin
        ? process.stdin.setEncoding('utf8')
        : createReadStream(file, { encoding: 'utf8' });
      const target = await resolveTarget(createDocker(), flags);
      const parsing = progress('load: ');
      let bar: ProgressBar | undefined;
      const result = await loadTable({
        connect: () => target.connect('read-write'),
        table,
        format,
        file: label,
        chunks: chunks as AsyncIterable<string>,
        columns: flags.columns?.split(',').map((c) => c.trim()),
        header: flags.header,
        analyze: flags.analyze,
        onParsed: (n) => parsing(`read ${n} rows from ${label}`),
        onStart: (total, groups) => {
          info(`load: sending ${total} rows to ${groups} worker group(s) in parallel`);
          bar = createProgressBar({ label: 'load', total });
        },
        onProgress: (sent) => bar?.update(sent),
      });
      bar?.stop();
      const s = result.copyMs / 1000;
      out(
        `loaded ${result.rows} rows into ${result.table} in ${s.toFixed(1)} s (${Math.round(result.rows / Math.max(s, 1e-9))} rows/s): ` +
          result.groups.map((g) => `${g.group} ${g.rows}`).join(', '),
      );
    });
}
