import { describe, expect, it } from 'vitest';
import { foldReport, toDrop } from './history.js';
import type { DriftReport } from './model.js';

function report(revision: string, status: DriftReport['status'], keys: string[]): DriftReport {
  return {
    seq: 1,
    cluster: 'c',
    agent: 'a',
    leader: true,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    status,
    source: { kind: 'git', revision, actedOn: revision, commit: { subject: 's', author: 'x' } },
    paused: null,
    validation: { ok: status !== 'rejected', problems: [] },
    backends: [
      {
        backend: 'swarm',
        state: 'in-sync',
        items: [],
        refusals: [],
        actions: keys.map((key) => ({
          key,
          backend: 'swarm' as const,
          summary: key,
          risk: 'safe' as const,
          result: 'applied' as const,
        })),
      },
    ],
    steps: [],
    errors: [],
  };
}

describe('per-revision history', () => {
  it('folds the cycles of one revision into one record', () => {
    const first = foldReport(null, report('r1', 'acting', ['a']));
    const second = foldReport(first, report('r1', 'in-sync', []));
    expect(second).toMatchObject({
      revision: 'r1',
      outcome: 'in-sync',
      cycles: 2,
      durationMs: 2000,
      actions: { applied: 1 },
      keys: ['a'],
      subject: 's',
      author: 'x',
    });
  });

  it('keeps the newest N and anything younger than the age limit', () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const rows = Array.from({ length: 10 }, (_, i) => ({
      firstSeen: new Date(now.getTime() - (10 - i) * 86_400_000).toISOString(),
    }));
    // 10 records, keep 4 or 5 days: the 5 youngest stay (age beats count).
    expect(toDrop(rows, { keepRevisions: 4, keepDays: 5.5 }, now)).toHaveLength(5);
    // keep 8 or 1 day: count beats age.
    expect(toDrop(rows, { keepRevisions: 8, keepDays: 1 }, now)).toEqual(rows.slice(0, 2));
    expect(toDrop(rows, { keepRevisions: 20, keepDays: 0 }, now)).toEqual([]);
  });
});
