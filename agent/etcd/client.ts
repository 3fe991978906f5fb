import { Etcd3, type IOptions, type Watcher } from 'etcd3';
import type { Logger } from '../core/log.js';

export type { Etcd3 };

export interface EtcdClientOptions {
  /** `http://host:2379`, one or several. */
  hosts: string[] | string;
  /** How long to wait for a connection before a call fails (default 5 s). */
  dialTimeoutMs?: number;
  /** etcd user auth; the password is passed to the client and never logged. */
  auth?: { username: string; password: string };
}

/**
 * Creates an etcd3 client. The client itself does not emit errors: the long-lived parts
 * (watchers, leases) get their listeners where they are made (see `watchKey`).
 */
export function createEtcdClient(options: EtcdClientOptions): Etcd3 {
  const config: IOptions = {
    hosts: options.hosts,
    dialTimeout: options.dialTimeoutMs ?? 5000,
  };
  if (options.auth) config.auth = { ...options.auth };
  return new Etcd3(config);
}

export interface KeyWatchHandlers {
  onPut?: (value: string, modRevision: string) => void;
  onDelete?: () => void;
  /** Called after a (re)connection: state may have changed while the stream was down. */
  onResync?: () => void;
}

/**
 * Watches one key with error listeners attached: a broken stream is logged and etcd3
 * reconnects by itself; the process never crashes on it.
 */
export async function watchKey(
  etcd: Etcd3,
  key: string,
  handlers: KeyWatchHandlers,
  log: Logger,
): Promise<Watcher> {
  const watcher = await etcd.watch().key(key).create();
  watcher.on('put', (kv) => handlers.onPut?.(kv.value.toString('utf8'), kv.mod_revision));
  watcher.on('delete', () => handlers.onDelete?.());
  watcher.on('disconnected', (err) =>
    log.warn({ key, err: err.message }, 'etcd watch disconnected'),
  );
  watcher.on('connected', () => handlers.onResync?.());
  watcher.on('error', (err) => log.error({ key, err: err.message }, 'etcd watch failed'));
  return watcher;
}
