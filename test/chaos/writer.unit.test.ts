import { describe, expect, it } from 'vitest';
import { mergeRuns, renderTable, type ChaosRun } from './table.js';
import type { TrialResult } from './trial.js';
import { forkOf, lostWalBytes, lsnBytes, measure, parseWriterLog } from './writer.js';

describe('chaos writer log', () => {
  it('reads acks with their insert LSN, and errors', () => {
    const log = parseWriterLog('ack 1 1000 0/3000060\nerr 2 1500\nack 2 1900 0/3000100\nnoise\n');
    expect(log.acks).toEqual([
      { id: 1, at: 1000, lsn: '0/3000060' },
      { id: 2, at: 1900, lsn: '0/3000100' },
    ]);
    expect(log.errors).toEqual([{ id: 2, at: 1500 }]);
  });

  it('measures the recovery from the fault to the first ack after the first error', () => {
    const log = parseWriterLog('ack 1 900\nerr 2 1100\nerr 2 2000\nack 2 4000\nack 3 4100\n');
    expect(measure(log, 1000)).toEqual({ recoverySeconds: 3, maxGapSeconds: 3.1, acked: 3 });
  });
});

describe('WAL behind lost rows', () => {
  it('reads an LSN as a byte position', () => {
    expect(lsnBytes('0/10')).toBe(16n);
    expect(lsnBytes('1/0')).toBe(4294967296n);
    expect(() => lsnBytes('nope')).toThrow('not an LSN: nope');
  });

  it("takes the fork of the fault's own timeline from the history, not a later leader change", () => {
    const history = '1\t0/30303A8\tno recovery target specified\n\n2\t0/3050000\tx\n';
    expect(forkOf(history, 1)).toBe('0/30303A8');
    expect(forkOf(history, 2)).toBe('0/3050000');
    expect(forkOf(history, 3)).toBeUndefined();
  });

  it('is the distance from the switch point to the highest lost row, never negative', () => {
    const lost = [
      { id: 7, at: 1, lsn: '0/3000100' },
      { id: 8, at: 2, lsn: '0/3000400' },
    ];
    expect(lostWalBytes(lost, '0/3000000')).toBe(0x400);
    expect(lostWalBytes([], '0/3000000')).toBe(0);
    // Not measurable: no fork point, or a lost row the promoted member must have had.
    expect(lostWalBytes(lost, undefined)).toBeNull();
    expect(lostWalBytes(lost, '0/3000200')).toBeNull();
  });
});

describe('chaos table', () => {
  const r = (over: Partial<TrialResult>): TrialResult => ({
    fault: 'kill-worker-primary',
    fenced: true,
    scope: 'w1',
    lost: 0,
    lostWalBytes: 0,
    maxPrimaries: 1,
    fence: undefined,
    recoverySeconds: 4,
    maxGapSeconds: 4,
    acked: 50,
    ...over,
  });

  it('sums lost rows and WAL per fault and mode, and counts split-brain trials', () => {
    const table = renderTable([
      {
        command: 'x',
        date: 'd',
        results: [r({ lost: 3, lostWalBytes: 900 }), r({ recoverySeconds: 6 })],
      },
    ]);
    expect(table).toContain('1. `x` on d');
    expect(table).toContain(
      '| kill-worker-primary (w1) | on | 1 | 2 | 5.0 / 6.0 | 4.0 | 3 of 100 | 900 | 0 | – | 0 |',
    );
  });

  it('shows the most members down at once where a rolling restart sampled it', () => {
    const table = renderTable([
      {
        command: 'x',
        date: 'd',
        results: [
          r({ fault: 'rolling-restart', scope: 'coord', maxDown: 1 }),
          r({ fault: 'rolling-restart', scope: 'coord', maxDown: 0 }),
        ],
      },
    ]);
    expect(table).toContain('| 0 of 100 | 0 | 0 | 1 | 0 |');
  });

  it('a later run replaces only the faults and modes it measured', () => {
    const first: ChaosRun = {
      command: 'all',
      date: 'd1',
      results: [r({}), r({ fault: 'kill-postgres', scope: 'coord', maxPrimaries: 2 })],
    };
    const second: ChaosRun = { command: 'one', date: 'd2', results: [r({ recoverySeconds: 9 })] };
    const runs = mergeRuns([first], second);
    expect(runs.map((x) => [x.command, x.results.map((y) => y.fault)])).toEqual([
      ['all', ['kill-postgres']],
      ['one', ['kill-worker-primary']],
    ]);
    const table = renderTable(runs);
    expect(table).toContain(
      '| kill-postgres (coord) | on | 1 | 1 | 4.0 / 4.0 | 4.0 | 0 of 50 | 0 | 1 | – | 0 |',
    );
    expect(table).toContain('| kill-worker-primary (w1) | on | 2 | 1 | 9.0 / 9.0 |');
    // A run with nothing left is dropped.
    expect(mergeRuns(runs, { ...second, date: 'd3' }).map((x) => x.date)).toEqual(['d1', 'd3']);
  });
});
