import type { TrialResult } from './trial.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'never');

/** Pure: the markdown table of a chaos run, one line per fault and fencing mode. */
export function renderTable(results: TrialResult[], o: { command: string; date: string }): string {
  const groups = new Map<string, TrialResult[]>();
  for (const r of results) {
    const k = `${r.fault}|${r.fenced}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const lines = [
    `Made by \`${o.command}\` on ${o.date} (2-core machine, cluster \`pgmtest-ha\`: 3 etcd, 2 coordinators in synchronous mode, one worker group of 2, Patroni ttl 20 s, loop_wait 2 s).`,
    '',
    '| fault | fenced failover | trials | next write after fault, s (median / max) | longest write gap, s (max) | acknowledged rows lost (total) | WAL behind lost rows, bytes (total) | trials with two writable primaries |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [, rs] of groups) {
    const first = rs[0]!;
    const rec = rs.map((r) => r.recoverySeconds);
    lines.push(
      `| ${first.fault} (${first.scope}) | ${first.fenced ? 'on' : 'off'} | ${rs.length} | ${f1(median(rec))} / ${f1(Math.max(...rec))} | ${f1(Math.max(...rs.map((r) => r.maxGapSeconds)))} | ${rs.reduce((a, r) => a + r.lost, 0)} of ${rs.reduce((a, r) => a + r.acked, 0)} | ${rs.reduce((a, r) => a + r.lostWalBytes, 0)} | ${rs.filter((r) => r.maxPrimaries > 1).length} |`,
    );
  }
  return lines.join('\n');
}
