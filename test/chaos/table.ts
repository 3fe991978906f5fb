import type { TrialResult } from './trial.js';

/** One run of the suite: the command that made it and its trials. */
export interface ChaosRun {
  command: string;
  date: string;
  results: TrialResult[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'never');
const keyOf = (r: Pick<TrialResult, 'fault' | 'fenced'>): string => `${r.fault}|${r.fenced}`;

/**
 * Pure: the runs kept after `next`: a fault and mode that `next` measured replaces what
 * earlier runs had for it, so running a few faults again updates only their rows.
 */
export function mergeRuns(earlier: ChaosRun[], next: ChaosRun): ChaosRun[] {
  const covered = new Set(next.results.map(keyOf));
  return [
    ...earlier
      .map((run) => ({ ...run, results: run.results.filter((r) => !covered.has(keyOf(r))) }))
      .filter((run) => run.results.length > 0),
    next,
  ];
}

function walCell(rs: TrialResult[]): string {
  const unknown = rs.filter((r) => r.lost > 0 && r.lostWalBytes === null).length;
  const known = rs.reduce((a, r) => a + (r.lostWalBytes ?? 0), 0);
  return unknown > 0 ? `${known} (+ ${unknown} trial(s) not measurable)` : `${known}`;
}

/** Sampled only while a rolling restart runs (the sampler's docker exec would slow the rest). */
function downCell(rs: TrialResult[]): string {
  const sampled = rs.flatMap((r) => (r.maxDown === undefined ? [] : [r.maxDown]));
  return sampled.length > 0 ? String(Math.max(...sampled)) : '–';
}

/** Pure: the markdown table of the runs, one line per fault and fencing mode. */
export function renderTable(runs: ChaosRun[]): string {
  const rows = new Map<string, { run: number; results: TrialResult[] }>();
  runs.forEach((run, i) => {
    for (const r of run.results) {
      const row = rows.get(keyOf(r)) ?? { run: i + 1, results: [] };
      row.results.push(r);
      rows.set(keyOf(r), row);
    }
  });
  const lines = [
    'Cluster `pgmtest-ha` on the 2-core machine: 3 etcd, 2 coordinators in synchronous mode, one worker group of 2, Patroni ttl 20 s, loop_wait 2 s. Fencing is done in the test process (the same `FencedFailover` as the agent), except for kill-agent-leader, where two real agent replicas run and fence. Runs:',
    '',
    ...runs.map((run, i) => `${i + 1}. \`${run.command}\` on ${run.date}`),
    '',
    '| fault | fenced failover | run | trials | next write after fault, s (median / max) | longest write gap, s (max) | acknowledged rows lost (total) | WAL behind lost rows, bytes (total) | trials with two writable primaries | most members down at once | replicas re-cloned (no restart) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { run, results: rs } of rows.values()) {
    const first = rs[0]!;
    const rec = rs.map((r) => r.recoverySeconds);
    lines.push(
      `| ${first.fault} (${first.scope}) | ${first.fenced ? 'on' : 'off'} | ${run} | ${rs.length} | ${f1(median(rec))} / ${f1(Math.max(...rec))} | ${f1(Math.max(...rs.map((r) => r.maxGapSeconds)))} | ${rs.reduce((a, r) => a + r.lost, 0)} of ${rs.reduce((a, r) => a + r.acked, 0)} | ${walCell(rs)} | ${rs.filter((r) => r.maxPrimaries > 1).length} | ${downCell(rs)} | ${rs.reduce((a, r) => a + (r.reinits ?? 0), 0)} |`,
    );
  }
  return lines.join('\n');
}
