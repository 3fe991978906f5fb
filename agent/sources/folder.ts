import { resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../core/log.js';
import { digestFiles, isHidden, readTree } from './files.js';
import type { Snapshot, Source } from './types.js';

export interface FolderSourceOptions {
  path: string;
  log: Logger;
  /** Quiet time after the last file event before listeners are told (default 300 ms). */
  debounceMs?: number;
}

/** A local folder of manifests, for development: watched with chokidar. */
export class FolderSource implements Source {
  readonly kind = 'folder' as const;
  readonly #root: string;
  readonly #o: FolderSourceOptions;
  readonly #listeners = new Set<() => void>();
  #watcher: FSWatcher | null = null;
  #ready: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;

  constructor(options: FolderSourceOptions) {
    this.#o = options;
    this.#root = resolve(options.path);
  }

  async read(): Promise<Snapshot> {
    const files = await readTree(this.#root);
    return { kind: 'folder', revision: digestFiles(files), ref: this.#root, files };
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    this.#startWatching();
    return () => this.#listeners.delete(cb);
  }

  /** Resolves once the watcher has scanned the folder (events before that are not seen). */
  ready(): Promise<void> {
    return this.#ready;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#listeners.clear();
    const w = this.#watcher;
    this.#watcher = null;
    await w?.close();
  }

  #startWatching(): void {
    if (this.#watcher) return;
    const root = this.#root;
    const w = watch(root, {
      ignoreInitial: true,
      ignored: (p: string) => p !== root && isHidden(p.slice(root.length + 1)),
    });
    this.#watcher = w;
    this.#ready = new Promise((res) => w.once('ready', () => res()));
    w.on('all', (event, path) => {
      this.#o.log.debug({ event, path }, 'manifest folder changed');
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        for (const cb of this.#listeners) cb();
      }, this.#o.debounceMs ?? 300);
    });
    w.on('error', (err) =>
      this.#o.log.warn({ path: root, err: (err as Error).message }, 'folder watch failed'),
    );
  }
}
