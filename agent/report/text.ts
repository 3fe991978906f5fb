import { describePause } from '../gate/gate.js';
import type { DriftItem } from '../backends/types.js';
import type { DriftReport } from './model.js';
import { describeProgress } from './progress.js';

/** Formats a value for one table cell: short, one line. */
export function cell(value: unknown, max = 40): string {
  const s = value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value);
  const line = (s ?? '-').replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const STATE_ORDER: DriftItem['state'][] = ['failed', 'blocked', 'acting', 'drifted', 'in-sync'];

/** `35 in sync, 1 failed, 13 blocked`: every item of every backend, by state (pure). */
export function summaryLine(report: DriftReport): string {
  const counts = new Map<string, number>();
  for (const item of report.backends.flatMap((b) => b.items))
    counts.set(item.state, (counts.get(item.state) ?? 0) + 1);
  const parts = ['in-sync', ...STATE_ORDER.filter((s) => s !== 'in-sync')]
    .filter((s) => counts.get(s))
    .map((s) => `${counts.get(s)} ${s.replace('-', ' ')}`);
  return parts.length ? parts.join(', ') : 'no items';
}

/** The drift report as `pgmesh drift` prints it. */
export function renderText(report: DriftReport): string {
  const out: string[] = [];
  out.push(
    `cluster ${report.cluster}  status ${report.status.toUpperCase()}  report #${report.seq}`,
    `revision ${report.source.revision ?? '-'}  acted on ${report.source.actedOn ?? '-'}` +
      `  (${report.source.kind}${report.source.ref ? ` ${report.source.ref}` : ''})`,
    `at ${report.finishedAt}  took ${report.durationMs} ms  by ${report.agent}${report.leader ? ' (leader)' : ' (observer)'}`,
  );
  out.push(`items: ${summaryLine(report)}`);
  if (report.paused) out.push(`PAUSED: ${describePause(report.paused)}`);
  if (!report.validation.ok) {
    out.push('', 'manifest set REJECTED (nothing applied):');
    out.push(
      table(
        ['FILE', 'FIELD', 'REASON'],
        report.validation.problems.map((p) => [p.file, p.field || '(document)', p.reason]),
      ),
    );
  }
  const rows: string[][] = [];
  for (const b of report.backends) {
    if (b.items.length === 0) rows.push([b.backend, '-', b.state, '', '', '', b.error ?? '']);
    // What needs attention first; items in sync collapse into one line per backend.
    const open = b.items
      .filter((i) => i.state !== 'in-sync')
      .sort((x, y) => STATE_ORDER.indexOf(x.state) - STATE_ORDER.indexOf(y.state));
    const inSync = b.items.length - open.length;
    for (const item of open) {
      const diffs = item.differences.length ? item.differences : [undefined];
      for (const d of diffs) {
        rows.push([
          b.backend,
          item.resource,
          item.state,
          d?.field ?? '',
          d ? cell(d.desired) : '',
          d ? cell(d.live) : '',
          item.reason ?? '',
        ]);
      }
    }
    if (inSync > 0) rows.push([b.backend, `(${inSync} more)`, 'in-sync', '', '', '', '']);
  }
  out.push('', table(['BACKEND', 'RESOURCE', 'STATE', 'FIELD', 'DESIRED', 'LIVE', 'REASON'], rows));
  const progress = report.backends.flatMap((b) =>
    b.items.flatMap((item) =>
      item.progress
        ? [[b.backend, item.resource, item.state, describeProgress(item.progress)]]
        : [],
    ),
  );
  if (progress.length > 0) {
    out.push('', 'progress:');
    out.push(table(['BACKEND', 'RESOURCE', 'STATE', 'PROGRESS'], progress));
  }
  const corrected = report.backends.flatMap((b) =>
    (b.corrected ?? []).flatMap((item) =>
      item.differences.map((d) => [
        b.backend,
        item.resource,
        d.field,
        cell(d.live),
        cell(d.desired),
      ]),
    ),
  );
  if (corrected.length > 0) {
    out.push('', 'corrected this cycle:');
    out.push(table(['BACKEND', 'RESOURCE', 'FIELD', 'FOUND', 'SET TO'], corrected));
  }
  const actions = report.backends.flatMap((b) => b.actions);
  if (actions.length > 0) {
    out.push('', 'actions:');
    out.push(
      table(
        ['RESULT', 'BACKEND', 'ACTION', 'MS', 'REASON'],
        actions.map((a) => [
          a.result,
          a.backend,
          a.summary,
          a.ms?.toString() ?? '',
          a.reason ?? '',
        ]),
      ),
    );
  }
  out.push(
    '',
    `steps: ${report.steps.map((s) => `${s.step} ${s.ms} ms${s.ok ? '' : ' (failed)'}`).join(', ')}`,
  );
  for (const e of report.errors) out.push(`error: ${e}`);
  return out.join('\n') + '\n';
}
