/** The CLI's output layer: the only place that writes to the terminal directly. */

export function out(line = ''): void {
  console.log(line);
}

export function info(line: string): void {
  console.error(line);
}

export function json(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** A plain aligned table; the first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A progress reporter that prints a line only when it changes, with elapsed seconds. */
export function progress(prefix: string): (line: string) => void {
  const start = Date.now();
  let last = '';
  return (line: string) => {
    if (line === last) return;
    last = line;
    const s = ((Date.now() - start) / 1000).toFixed(0).padStart(4);
    console.error(`[${s}s] ${prefix}${line}`);
  };
}
