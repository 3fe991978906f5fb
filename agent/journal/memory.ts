import {
  backingOff,
  DEFAULT_BACKOFF,
  failedEntry,
  type Backoff,
  type JournalEntry,
  type RunOnceResult,
} from './journal.js';

/** What the pipeline needs of a journal; `Journal` (etcd) and `MemoryJournal` provide it. */
export interface ActionJournal {
  runOnce<T>(
    key: string,
    fn: () => Promise<T>,
    meta?: { summary?: string },
  ): Promise<RunOnceResult<T>>;
  get(key: string): Promise<JournalEntry | null>;
}

/** A journal in memory: for unit tests and for one-shot runs without etcd. */
export class MemoryJournal implements ActionJournal {
  readonly entries = new Map<string, JournalEntry>();

  constructor(
    private readonly holder = 'memory',
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(key: string): Promise<JournalEntry | null> {
    return this.entries.get(key) ?? null;
  }

  async runOnce<T>(
    key: string,
    fn: () => Promise<T>,
    meta: { summary?: string } = {},
  ): Promise<RunOnceResult<T>> {
    const prev = this.entries.get(key) ?? null;
    if (prev?.state === 'done') return { ran: false, entry: prev, why: 'done' };
    if (prev && backingOff(prev, this.now()))
      return { ran: false, entry: prev, why: 'backing-off' };
    const started: JournalEntry = {
      key,
      state: 'started',
      holder: this.holder,
      startedAt: new Date().toISOString(),
      ...(meta.summary !== undefined ? { summary: meta.summary } : {}),
    };
    this.entries.set(key, started);
    try {
      const value = await fn();
      const done: JournalEntry = {
        ...started,
        state: 'done',
        finishedAt: new Date().toISOString(),
      };
      this.entries.set(key, done);
      return { ran: true, value, entry: done };
    } catch (err) {
      this.entries.set(key, failedEntry(started, prev, err, this.now(), this.backoff));
      throw err;
    }
  }
}
