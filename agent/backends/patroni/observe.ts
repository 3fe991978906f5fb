import { PATRONI_NAMESPACE } from '../../core/names.js';
import type { Kv, PatroniStore } from './transport.js';
import type { LiveMember, LivePatroni, LiveScope, PendingChange } from './types.js';

function parseJson(text: string | undefined): Record<string, unknown> | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function text(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

/** Patroni 4 writes `{param: {old_value, new_value}}`; older versions only the flag. */
function pendingReasons(v: unknown): Record<string, PendingChange> {
  if (typeof v !== 'object' || v === null) return {};
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([name, change]) => {
      const c = (change ?? {}) as Record<string, unknown>;
      return [name, { old: text(c.old_value ?? c.old), new: text(c.new_value ?? c.new) }];
    }),
  );
}

/**
 * Pure: each scope's DCS config, leader, pause, sync standby and members from Patroni's
 * keys in etcd. Every member writes its own key each loop, `pending_restart` included, so
 * one read of the namespace is the whole picture, even when a member's REST API is down.
 */
export function liveFromKeys(
  kvs: Kv[],
  scopes: string[],
  namespace = PATRONI_NAMESPACE,
): LivePatroni {
  return {
    scopes: scopes.map((scope): LiveScope => {
      const prefix = `${namespace}${scope}/`;
      const get = (k: string): string | undefined => kvs.find((kv) => kv.key === prefix + k)?.value;
      const config = parseJson(get('config'));
      const sync = parseJson(get('sync'));
      const leaderLsn = (() => {
        const leader = get('leader');
        const data = leader ? parseJson(get(`members/${leader}`)) : null;
        return typeof data?.xlog_location === 'number' ? data.xlog_location : undefined;
      })();
      const members = kvs
        .filter((kv) => kv.key.startsWith(`${prefix}members/`))
        .map((kv): LiveMember => {
          const data = parseJson(kv.value) ?? {};
          const role = String(data.role ?? 'unknown');
          const lsn = data.replayed_location ?? data.xlog_location;
          return {
            name: kv.key.slice(`${prefix}members/`.length),
            role: role === 'master' ? 'primary' : role,
            state: String(data.state ?? 'unknown'),
            apiUrl: String(data.api_url ?? '').replace(/\/patroni$/, ''),
            pendingRestart: data.pending_restart === true,
            pendingReasons: pendingReasons(data.pending_restart_reason),
            replicationState:
              typeof data.replication_state === 'string' ? data.replication_state : undefined,
            lagBytes:
              typeof lsn === 'number' && leaderLsn !== undefined
                ? Math.max(0, leaderLsn - lsn)
                : undefined,
          };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
      const syncStandby = sync?.sync_standby;
      return {
        scope,
        config,
        configRevision: kvs.find((kv) => kv.key === `${prefix}config`)?.modRevision ?? '',
        leader: get('leader'),
        paused: config?.pause === true,
        syncStandby: typeof syncStandby === 'string' ? syncStandby : undefined,
        members,
      };
    }),
  };
}

/** Every scope under Patroni's namespace, or only `scopes`. */
export async function observePatroni(store: PatroniStore, scopes?: string[]): Promise<LivePatroni> {
  const kvs = await store.list(PATRONI_NAMESPACE);
  const found = [
    ...new Set(kvs.map((kv) => kv.key.slice(PATRONI_NAMESPACE.length).split('/')[0] ?? '')),
  ].filter((s) => s !== '');
  return liveFromKeys(kvs, scopes ?? found.sort());
}
