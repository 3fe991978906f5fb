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
}

export type RunOnceResult<T> =
  { ran: true; value: T; entry: JournalEntry } | { ran: false; entry: JournalEntry };

export interface JournalOptions {
  etcd: Etcd3;
  cluster: string;
  holder: string;
  /** How long entries are kept (default 7 days). */
  retentionSeconds?: number;
  now?: () => Date;
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
    this.#o = { retentionSeconds: 7 * 24 * 3600, now: () => new Date(), ...options };
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
    if (kv) {
      const prev = JSON.parse(kv.value.toString('utf8')) as JournalEntry;
      if (prev.state === 'done') return { ran: false, entry: prev };
    }
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
      if (now?.state === 'done') return { ran: false, entry: now };
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
      const failed: JournalEntry = {
        ...started,
        state: 'failed',
        finishedAt: this.#o.now().toISOString(),
        error: err instanceof Error ? err.message : String(err),
      };
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
