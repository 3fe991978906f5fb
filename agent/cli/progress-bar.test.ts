import { describe, expect, it } from 'vitest';
import { createProgressBar, renderBar } from './progress-bar.js';

describe('the progress bar', () => {
  it('renders fraction, counts, rate and time left', () => {
    expect(renderBar('load', 50, 200, 2000, 'rows', 8)).toBe(
      'load [##------]  25% 50/200 rows 25 rows/s 2s eta 6s',
    );
    expect(renderBar('load', 200, 200, 4000, 'rows', 4)).toBe(
      'load [####] 100% 200/200 rows 50 rows/s 4s',
    );
  });

  it('prints a line per tenth (0 % to 100 %) when not on a terminal, no more at stop', () => {
    const lines: string[] = [];
    const stream = {
      isTTY: false,
      write: (s: string) => lines.push(s),
    } as unknown as NodeJS.WriteStream;
    let t = 0;
    const bar = createProgressBar({ label: 'x', total: 100, stream, now: () => t });
    for (let i = 1; i <= 100; i++) {
      t += 10;
      bar.update(i);
    }
    bar.stop();
    expect(lines).toHaveLength(11);
    expect(lines.at(-1)).toContain('100% 100/100 rows');
  });
});
