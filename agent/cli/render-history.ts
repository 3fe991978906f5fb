import type { RevisionRecord } from '../report/history.js';
import { table } from './output.js';

function actions(r: RevisionRecord): string {
  const parts = Object.entries(r.actions)
    .filter(([, n]) => n)
    .map(([result, n]) => `${n} ${result}`);
  return parts.length ? parts.join(', ') : '-';
}

/** `pgmesh history`: newest revision first, one line each. */
export function renderHistory(revisions: RevisionRecord[]): string {
  if (revisions.length === 0) return 'No revision recorded yet.';
  const rows = revisions.map((r) => [
    r.revision.slice(0, 10),
    r.firstSeen.replace(/\.\d+Z$/, 'Z'),
    r.outcome,
    actions(r),
    `${(r.durationMs / 1000).toFixed(1)} s`,
    [r.subject, r.author ? `(${r.author})` : ''].filter(Boolean).join(' ') || '-',
  ]);
  return table([['REVISION', 'FIRST SEEN', 'OUTCOME', 'ACTIONS', 'TIME', 'COMMIT'], ...rows]);
}
