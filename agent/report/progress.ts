/**
 * Pure formatting and arithmetic of progress (shard moves done / total, bytes, ETA), for
 * the logs, the drift report's renderers and the CLI.
 */
import type { DriftProgress } from '../backends/types.js';

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export interface EtaInput {
  elapsedMs: number;
  done: number;
  total: number;
  bytesDone?: number;
  bytesTotal?: number;
}

/**
 * Time left at the rate measured so far over the whole run: by bytes when the run moves
 * bytes, else by steps. 0 when finished; undefined before anything was measured.
 */
export function estimateEtaMs(p: EtaInput): number | undefined {
  if (p.done >= p.total) return 0;
  if (p.elapsedMs <= 0) return undefined;
  if (p.bytesTotal !== undefined && p.bytesTotal > 0 && p.bytesDone !== undefined) {
    if (p.bytesDone >= p.bytesTotal) return 0;
    if (p.bytesDone <= 0) return undefined;
    return Math.round(((p.bytesTotal - p.bytesDone) * p.elapsedMs) / p.bytesDone);
  }
  if (p.done <= 0) return undefined;
  return Math.round(((p.total - p.done) * p.elapsedMs) / p.done);
}

/** One line: `2/4 shard moves, 1.0 MiB/2.1 MiB (48%), ETA 40 s — copying ...`. */
export function describeProgress(p: DriftProgress): string {
  const parts = [`${p.done}/${p.total} ${p.unit}`];
  if (p.bytesTotal !== undefined && p.bytesTotal > 0) {
    const pct = Math.min(100, Math.floor(((p.bytesDone ?? 0) * 100) / p.bytesTotal));
    parts.push(`${formatBytes(p.bytesDone ?? 0)}/${formatBytes(p.bytesTotal)} (${pct}%)`);
  }
  if (p.finishedAt) parts.push(`finished ${p.finishedAt}`);
  else if (p.done < p.total && p.etaMs !== undefined) parts.push(`ETA ${formatDuration(p.etaMs)}`);
  return parts.join(', ') + (p.current && !p.finishedAt ? ` — ${p.current}` : '');
}

/** One line per drift item with progress (`pgmesh status` prints them under the groups). */
export function progressLines(report: {
  backends: Array<{
    backend: string;
    items: Array<{ resource: string; state: string; progress?: DriftProgress }>;
  }>;
}): string[] {
  return report.backends.flatMap((b) =>
    b.items.flatMap((i) =>
      i.progress
        ? [`${b.backend} ${i.resource} (${i.state}): ${describeProgress(i.progress)}`]
        : [],
    ),
  );
}
