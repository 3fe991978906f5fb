/**
 * The per-revision history: one small record per revision of the manifests (what became
 * of it, when, by whom), kept far longer than the per-cycle reports. A rejected revision
 * has a record of its own under its own id; cycles that see the same revision again fold
 * into its record.
 */
import type { Etcd3 } from 'etcd3';
import { revisionKey, revisionsPrefix } from '../etcd/keys.js';
import type { ActionResult, DriftReport, OverallStatus } from './model.js';

export interface RevisionRecord {
  revision: string;
  firstSeen: string;
  lastSeen: string;
  /** The status of the latest cycle on this revision. */
  outcome: OverallStatus;
  /** Every action any cycle on this revision reached, by result (a key counts once). */
  actions: Partial<Record<ActionResult, number>>;
  /** Keys of the actions applied or failed (at most MAX_KEYS). */
  keys: string[];
  /** Sum of the cycles' durations. */
  durationMs: number;
  cycles: number;
  subject?: string;
  author?: string;
}

export interface HistoryRetention {
  /** At least this many revisions are kept, whatever their age. */
  keepRevisions: number;
  /** And every revision younger than this. */
  keepDays: number;
}

export const DEFAULT_RETENTION: HistoryRetention = { keepRevisions: 500, keepDays: 30 };
const MAX_KEYS = 50;

export interface RevisionHistory {
  record(report: DriftReport): Promise<RevisionRecord | null>;
  /** Newest first. */
  list(limit?: number): Promise<RevisionRecord[]>;
}

/** Folds a cycle's report into its revision's record (pure). */
export function foldReport(prev: RevisionRecord | null, report: DriftReport): RevisionRecord {
  const revision = report.source.revision ?? 'unknown';
  const byKey = new Map<string, ActionResult>();
  const keys = new Set(prev?.keys ?? []);
  for (const a of report.backends.flatMap((b) => b.actions)) {
    byKey.set(a.key, a.result);
    if ((a.result === 'applied' || a.result === 'failed') && keys.size < MAX_KEYS) keys.add(a.key);
  }
  const actions: Partial<Record<ActionResult, number>> = { ...(prev?.actions ?? {}) };
  for (const result of byKey.values()) {
    // Only results that change the story count again: an action blocked every cycle while
    // paused is one blocked action, not one per cycle.
    if (prev && (result === 'blocked' || result === 'not-run')) continue;
    actions[result] = (actions[result] ?? 0) + 1;
  }
  return {
    revision,
    firstSeen: prev?.firstSeen ?? report.startedAt,
    lastSeen: report.finishedAt,
    outcome: report.status,
    actions,
    keys: [...keys],
    durationMs: (prev?.durationMs ?? 0) + report.durationMs,
    cycles: (prev?.cycles ?? 0) + 1,
    ...(report.source.commit
      ? { subject: report.source.commit.subject, author: report.source.commit.author }
      : {}),
  };
}

/**
 * Which records to drop, given all of them oldest first: those beyond the newest
 * `keepRevisions` that are also older than `keepDays` (pure).
 */
export function toDrop<T extends { firstSeen: string }>(
  oldestFirst: T[],
  retention: HistoryRetention,
  now: Date,
): T[] {
  const excess = oldestFirst.length - retention.keepRevisions;
  if (excess <= 0) return [];
  const cutoff = now.getTime() - retention.keepDays * 86_400_000;
  return oldestFirst.slice(0, excess).filter((r) => Date.parse(r.firstSeen) < cutoff);
}

/** Records under `/pgmesh/<cluster>/revisions/`, written by the leader after each cycle. */
export class EtcdRevisionHistory implements RevisionHistory {
  #newest: { key: string; record: RevisionRecord } | null = null;

  constructor(
    private readonly etcd: Etcd3,
    private readonly cluster: string,
    private readonly retention: HistoryRetention = DEFAULT_RETENTION,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(report: DriftReport): Promise<RevisionRecord | null> {
    const revision = report.source.revision;
    if (!revision) return null;
    const newest = this.#newest ?? (await this.#readNewest());
    if (newest && newest.record.revision === revision) {
      const record = foldReport(newest.record, report);
      await this.etcd.put(newest.key).value(JSON.stringify(record));
      this.#newest = { key: newest.key, record };
      return record;
    }
    const record = foldReport(null, report);
    const key = revisionKey(this.cluster, Date.parse(record.firstSeen), revision);
    await this.etcd.put(key).value(JSON.stringify(record));
    this.#newest = { key, record };
    await this.#trim();
    return record;
  }

  async list(limit = this.retention.keepRevisions): Promise<RevisionRecord[]> {
    const values = await this.etcd
      .getAll()
      .prefix(revisionsPrefix(this.cluster))
      .sort('Key', 'Descend')
      .limit(Math.max(1, limit))
      .strings();
    return Object.entries(values)
      .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
      .map(([, v]) => JSON.parse(v) as RevisionRecord);
  }

  async #readNewest(): Promise<{ key: string; record: RevisionRecord } | null> {
    const values = await this.etcd
      .getAll()
      .prefix(revisionsPrefix(this.cluster))
      .sort('Key', 'Descend')
      .limit(1)
      .strings();
    const [entry] = Object.entries(values);
    return entry ? { key: entry[0], record: JSON.parse(entry[1]) as RevisionRecord } : null;
  }

  /** Runs when a revision is added; one range delete keeps it one round-trip. */
  async #trim(): Promise<void> {
    const keys = (await this.etcd.getAll().prefix(revisionsPrefix(this.cluster)).keys()).sort();
    const prefix = revisionsPrefix(this.cluster);
    const rows = keys.map((key) => ({
      key,
      firstSeen: new Date(Number(key.slice(prefix.length).split('-')[0])).toISOString(),
    }));
    const drop = toDrop(rows, this.retention, this.now());
    if (drop.length === 0) return;
    const last = drop[drop.length - 1] as { key: string };
    // Keys sort by first-seen time, and toDrop returns a prefix of that order.
    await this.etcd
      .delete()
      .inRange({ start: prefix, end: `${last.key}\0` })
      .exec();
  }
}

/** In memory, for tests and one-shot runs. */
export class MemoryRevisionHistory implements RevisionHistory {
  readonly records: RevisionRecord[] = [];

  async record(report: DriftReport): Promise<RevisionRecord | null> {
    const revision = report.source.revision;
    if (!revision) return null;
    const prev = this.records[0];
    const record = foldReport(prev?.revision === revision ? prev : null, report);
    if (prev?.revision === revision) this.records[0] = record;
    else this.records.unshift(record);
    return record;
  }

  async list(limit = 500): Promise<RevisionRecord[]> {
    return this.records.slice(0, limit);
  }
}
