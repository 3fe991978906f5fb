import type { JournalEntry, RunOnceResult } from './journal.js';

/** What the pipeline needs of a journal; `Journal` (etcd) and `MemoryJournal` provide it. */
export interface ActionJournal {
  runOnce<T>(
    key: string,
    fn: () => Promise<T>,
    meta?: { summary?: string },
  ): Promise<RunOnceResult<T>>;
}

/** A journal in memory: for unit tests and for one-shot runs without etcd. */
export class MemoryJournal implements ActionJournal {
  readonly entries = new Map<string, JournalEntry>();

  constructor(private readonly holder = 'memory') {}

  async runOnce<T>(
    key: string,
    fn: () => Promise<T>,
    meta: { summary?: string } = {},
  ): Promise<RunOnceResult<T>> {
    const prev = this.entries.get(key);
    if (prev?.state === 'done') return { ran: false, entry: prev };
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
      this.entries.set(key, {
        ...started,
        state: 'failed',
        finishedAt: new Date().toISOString(),
        error: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
  }
}
