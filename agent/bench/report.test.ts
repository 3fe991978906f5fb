import { describe, expect, it } from 'vitest';
import { compare } from './measure.js';
import { parseTimings } from './profile.js';
import { DOCS_BEGIN, DOCS_END, markdownTable, replaceDocsBlock, workloadRows } from './report.js';

describe('bench report', () => {
  it('marks a workload met or missed from its p50 ratio', () => {
    const ok = compare(
      'read',
      { cluster: [2, 2, 2], baseline: [1.5, 1.5, 1.5] },
      { comparator: '<=', value: 1.5, of: 'p50' },
    );
    expect(ok.ratio).toBeCloseTo(4 / 3);
    expect(ok.met).toBe(true);
    const bad = compare(
      'read',
      { cluster: [4], baseline: [1] },
      { comparator: '<=', value: 1.5, of: 'p50' },
    );
    expect(bad.met).toBe(false);
    expect(workloadRows([ok, bad]).map((r) => r.at(-1))).toEqual(['result', 'met', 'MISSED']);
  });

  it('replaces only the block between the markers, or appends one', () => {
    const doc = `# B\n\nintro\n\n${DOCS_BEGIN}\nold\n${DOCS_END}\n\nafter\n`;
    const block = `${DOCS_BEGIN}\nnew\n${DOCS_END}`;
    expect(replaceDocsBlock(doc, block)).toBe(`# B\n\nintro\n\n${block}\n\nafter\n`);
    expect(replaceDocsBlock('# B\n', block)).toBe(`# B\n\n${block}\n`);
  });

  it('renders Markdown tables with escaped pipes', () => {
    expect(
      markdownTable([
        ['a', 'b'],
        ['1', 'x|y'],
      ]),
    ).toBe('| a | b |\n| --- | --- |\n| 1 | x\\|y |');
  });

  it('reads psql \\timing lines', () => {
    expect(parseTimings('Time: 1.250 ms\nnoise\nTime: 12.5 ms (00:00.013)\n')).toEqual([
      1.25, 12.5,
    ]);
  });
});
