import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../core/log.js';
import { watchKey } from '../etcd/client.js';
import { pauseKey } from '../etcd/keys.js';

/** Who paused the agent, why, and since when (ISO time; null if set by hand and not yet seen). */
export interface PauseInfo {
  by: string;
  reason: string;
  since: string | null;
}

/** `by` recorded for a plain string value written by hand with etcdctl. */
export const BY_ETCDCTL = 'etcdctl';

/**
 * Reads the pause key's value. The agent writes JSON; a person in a hurry writes any text
 * with `etcdctl put /pgmesh/<cluster>/pause "disk full on node 2"`: that text is the reason.
 */
export function parsePauseValue(raw: string): PauseInfo {
  const text = raw.trim();
  if (text.startsWith('{')) {
    try {
      const v = JSON.parse(text) as Record<string, unknown>;
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        return {
          by: typeof v.by === 'string' && v.by ? v.by : BY_ETCDCTL,
          reason: typeof v.reason === 'string' ? v.reason : '',
          since: typeof v.since === 'string' ? v.since : null,
        };
      }
    } catch {
      // Not JSON after all: the whole text is the reason.
    }
  }
  return { by: BY_ETCDCTL, reason: text, since: null };
}

export async function getPause(etcd: Etcd3, cluster: string): Promise<PauseInfo | null> {
  const raw = await etcd.get(pauseKey(cluster)).string();
  return raw === null ? null : parsePauseValue(raw);
}

export async function setPause(
  etcd: Etcd3,
  cluster: string,
  pause: { by: string; reason: string; now?: Date },
): Promise<PauseInfo> {
  const info: PauseInfo = {
    by: pause.by,
    reason: pause.reason,
    since: (pause.now ?? new Date()).toISOString(),
  };
  await etcd.put(pauseKey(cluster)).value(JSON.stringify(info));
  return info;
}

/** Returns whether a pause was set. */
export async function clearPause(etcd: Etcd3, cluster: string): Promise<boolean> {
  const res = await etcd.delete().key(pauseKey(cluster)).exec();
  return Number(res.deleted) > 0;
}

/**
 * Gives a pause set by hand (no `since`) a time, so every replica and every report tells the
 * same story. Guarded by the key's revision: a concurrent change by a person wins.
 */
export async function stampPause(
  etcd: Etcd3,
  cluster: string,
  now: Date = new Date(),
): Promise<PauseInfo | null> {
  const key = pauseKey(cluster);
  const res = await etcd.get(key).exec();
  const kv = res.kvs[0];
  if (!kv) return null;
  const info = parsePauseValue(kv.value.toString('utf8'));
  if (info.since !== null) return info;
  const stamped: PauseInfo = { ...info, since: now.toISOString() };
  const txn = await etcd
    .if(key, 'Mod', '==', kv.mod_revision)
    .then(etcd.put(key).value(JSON.stringify(stamped)))
    .commit();
  return txn.succeeded ? stamped : getPause(etcd, cluster);
}

/** A local flag kept current by an etcd watch: checking it costs no round-trip. */
export interface PauseWatch {
  current(): PauseInfo | null;
  isPaused(): boolean;
  /** Returns an unsubscribe function. */
  onChange(cb: (pause: PauseInfo | null) => void): () => void;
  close(): Promise<void>;
}

export async function watchPause(etcd: Etcd3, cluster: string, log: Logger): Promise<PauseWatch> {
  let current: PauseInfo | null = null;
  const listeners = new Set<(pause: PauseInfo | null) => void>();
  const set = (next: PauseInfo | null): void => {
    const changed = JSON.stringify(next) !== JSON.stringify(current);
    current = next;
    if (!changed) return;
    log.info({ cluster, paused: next !== null, by: next?.by }, 'pause changed');
    for (const cb of listeners) cb(next);
  };
  const resync = (): void => {
    getPause(etcd, cluster).then(set, (err: Error) =>
      log.warn({ cluster, err: err.message }, 'reading the pause key failed'),
    );
  };
  const watcher: Watcher = await watchKey(
    etcd,
    pauseKey(cluster),
    { onPut: (value) => set(parsePauseValue(value)), onDelete: () => set(null), onResync: resync },
    log,
  );
  // The watch reports changes from now on; the value already there is read once.
  set(await getPause(etcd, cluster));
  return {
    current: () => current,
    isPaused: () => current !== null,
    onChange(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    async close() {
      listeners.clear();
      await watcher.cancel();
    },
  };
}
