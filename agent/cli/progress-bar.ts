/**
 * A small progress bar for long CLI steps (loading, index builds). No package for it is
 * installed here (cli-progress is not in node_modules and npm cannot be reached), so this
 * is the whole of it: redrawn in place on a terminal, a line per 10 % otherwise (CI logs).
 */

export interface ProgressBar {
  /** Sets the number of units done so far. */
  update(done: number): void;
  /** Draws the final state and ends the line. */
  stop(): void;
}

export interface ProgressBarOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** Injected for tests. */
  now?: () => number;
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** One line of the bar: pure, so it is tested without a terminal. */
export function renderBar(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  unit = 'rows',
  width = 24,
): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 && done < total ? ` eta ${seconds(((total - done) / rate) * 1000)}` : '';
  return (
    `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` +
    `${String(Math.floor(frac * 100)).padStart(3)}% ${done}/${total} ${unit} ` +
    `${Math.round(rate)} ${unit}/s ${seconds(elapsedMs)}${eta}`
  );
}

export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const started = now();
  const tty = stream.isTTY === true;
  let done = 0;
  let lastDraw = 0;
  let lastDecile = -1;
  const line = () =>
    renderBar(options.label, done, options.total, now() - started, options.unit ?? 'rows');
  const draw = (force: boolean) => {
    if (tty) {
      const t = now();
      if (!force && t - lastDraw < 100) return;
      lastDraw = t;
      stream.write(`\r${line()}\x1b[K`);
    } else {
      const decile = options.total > 0 ? Math.floor((done / options.total) * 10) : 10;
      if (!force && decile === lastDecile) return;
      lastDecile = decile;
      stream.write(`${line()}\n`);
    }
  };
  return {
    update(n: number) {
      done = n;
      draw(false);
    },
    stop() {
      if (tty) {
        draw(true);
        stream.write('\n');
      } else if (lastDecile !== 10) draw(true);
    },
  };
}
