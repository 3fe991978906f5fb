import type { Etcd3 } from 'etcd3';
import { ApplyFailedError } from '../core/errors.js';
import { journalKey, journalPrefix, parseJournalKey } from '../etcd/keys.js';

export type JournalState = 'started' | 'done' | 'failed';

export interface JournalEntry {
  key: string;
  state: JournalState;
  /** The agent replica that wrote the entry. */
  holder: string;
  summary?: string;
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** Failed attempts in a row (a success or a new key starts again at 0). */
  attempts?: number;
  /** After a failure: not tried again before this time (exponential backoff). */
  nextTryAt?: string;
}

export type RunOnceResult<T> =
  | { ran: true; value: T; entry: JournalEntry }
  /** `done`: already done (maybe by another replica); `backing-off`: failed, next try later. */
  | { ran: false; entry: JournalEntry; why: 'done' | 'backing-off' };

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** 10 s after the first failure, doubling, at most 10 minutes apart. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 10_000, maxMs: 600_000 };

/** When a step that failed `attempts` times in a row may run again (pure). */
export function nextTry(finishedAt: Date, attempts: number, backoff: Backoff): Date {
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempts - 1));
  return new Date(finishedAt.getTime() + delay);
}

/** The entry of a failed step after one more failure (pure). */
export function failedEntry(
  started: JournalEntry,
  prev: JournalEntry | null,
  err: unknown,
  now: Date,
  backoff: Backoff,
): JournalEntry {
  const attempts = (prev?.state === 'failed' ? (prev.attempts ?? 1) : 0) + 1;
  return {
    ...started,
    state: 'failed',
    finishedAt: now.toISOString(),
    error: err instanceof Error ? err.message : String(err),
    attempts,
    nextTryAt: nextTry(now, attempts, backoff).toISOString(),
  };
}

/** Whether a failed entry is still in its backoff at `now` (pure). */
export function backingOff(prev: JournalEntry | null, now: Date): boolean {
  return (
    prev?.state === 'failed' &&
    prev.nextTryAt !== undefined &&
    Date.parse(prev.nextTryAt) > now.getTime()
  );
}

export interface JournalOptions {
  etcd: Etcd3;
  cluster: string;
  holder: string;
  /** How long entries are kept (default 7 days). */
  retentionSeconds?: number;
  now?: () => Date;
  backoff?: Backoff;
}

/**
 * The record of actions by idempotency key, in etcd, so that a new leader never repeats a
 * completed step. Entries expire on their own: they are attached to a lease that is never
 * kept alive, granted for the retention time and replaced when a tenth of it has passed,
 * so an entry lives between 90 % and 100 % of the retention time, whatever happens to the
 * agent that wrote it.
 */
export class Journal {
  readonly #o: Required<JournalOptions>;
  #lease: { id: string; grantedAt: number } | null = null;

  constructor(options: JournalOptions) {
    this.#o = {
      retentionSeconds: 7 * 24 * 3600,
      now: () => new Date(),
      backoff: DEFAULT_BACKOFF,
      ...options,
    };
  }

  async get(key: string): Promise<JournalEntry | null> {
    const raw = await this.#o.etcd.get(journalKey(this.#o.cluster, key)).string();
    return raw === null ? null : (JSON.parse(raw) as JournalEntry);
  }

  async list(): Promise<JournalEntry[]> {
    const all = await this.#o.etcd.getAll().prefix(journalPrefix(this.#o.cluster)).strings();
    return Object.entries(all)
      .filter(([k]) => parseJournalKey(this.#o.cluster, k) !== null)
      .map(([, v]) => JSON.parse(v) as JournalEntry);
  }

  /**
   * Runs `fn` unless the key is already done. A key left `started` or `failed` (by a
   * replica that died or by an earlier attempt) runs again: backend actions are idempotent.
   * The `started` mark is written with a compare on the key's revision, so two replicas that
   * both believe they lead cannot both start the same step.
   */
  async runOnce<T>(
    key: string,
    fn: () => Promise<T>,
    meta: { summary?: string } = {},
  ): Promise<RunOnceResult<T>> {
    const etcdKey = journalKey(this.#o.cluster, key);
    const res = await this.#o.etcd.get(etcdKey).exec();
    const kv = res.kvs[0];
    const prev = kv ? (JSON.parse(kv.value.toString('utf8')) as JournalEntry) : null;
    if (prev?.state === 'done') return { ran: false, entry: prev, why: 'done' };
    if (prev && backingOff(prev, this.#o.now()))
      return { ran: false, entry: prev, why: 'backing-off' };
    const started: JournalEntry = {
      key,
      state: 'started',
      holder: this.#o.holder,
      startedAt: this.#o.now().toISOString(),
      ...(meta.summary !== undefined ? { summary: meta.summary } : {}),
    };
    const lease = await this.#leaseId();
    const txn = await this.#o.etcd
      .if(etcdKey, 'Mod', '==', kv ? kv.mod_revision : 0)
      .then(this.#o.etcd.put(etcdKey).value(JSON.stringify(started)).lease(lease))
      .commit();
    if (!txn.succeeded) {
      const now = await this.get(key);
      if (now?.state === 'done') return { ran: false, entry: now, why: 'done' };
      throw new ApplyFailedError(
        `journal key ${key} was changed by ${now?.holder ?? 'another replica'} while starting it`,
      );
    }
    try {
      const value = await fn();
      const done: JournalEntry = {
        ...started,
        state: 'done',
        finishedAt: this.#o.now().toISOString(),
      };
      await this.#o.etcd.put(etcdKey).value(JSON.stringify(done)).lease(lease);
      return { ran: true, value, entry: done };
    } catch (err) {
      const failed = failedEntry(started, prev, err, this.#o.now(), this.#o.backoff);
      await this.#o.etcd.put(etcdKey).value(JSON.stringify(failed)).lease(lease);
      throw err;
    }
  }

  /** Deletes entries finished before `olderThan` (the lease does it too; this is for now). */
  async prune(olderThan: Date): Promise<number> {
    let n = 0;
    for (const entry of await this.list()) {
      const at = Date.parse(entry.finishedAt ?? entry.startedAt);
      if (at < olderThan.getTime()) {
        await this.#o.etcd.delete().key(journalKey(this.#o.cluster, entry.key));
        n++;
      }
    }
    return n;
  }

  async #leaseId(): Promise<string> {
    const now = Date.now();
    const ttl = this.#o.retentionSeconds;
    if (this.#lease && now - this.#lease.grantedAt < (ttl * 1000) / 10) return this.#lease.id;
    const lease = this.#o.etcd.lease(ttl, { autoKeepAlive: false });
    lease.on('lost', () => undefined);
    const id = await lease.grant();
    // Stop the client-side bookkeeping; the lease lives on in etcd until its TTL ends.
    lease.release();
    this.#lease = { id, grantedAt: now };
    return id;
  }
}
