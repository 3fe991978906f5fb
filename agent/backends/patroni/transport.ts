/**
 * How the patroni backend and fenced failover reach etcd and Patroni's REST API. The agent,
 * inside the cluster network, uses an etcd3 client and plain HTTP; tools and tests on the
 * host, which cannot reach the overlay network, go through `docker exec` (etcdctl in an
 * etcd member, curl in a pgnode container). Both keep to the same two small interfaces.
 */
import type Docker from 'dockerode';
import type { Etcd3 } from 'etcd3';
import { execIn, serviceContainers, type ExecResult } from '../../docker/client.js';

export interface Kv {
  key: string;
  value: string;
  /** etcd's revision of the last change to the key (a decimal string). */
  modRevision: string;
}

export interface PatroniStore {
  /** Every key under `prefix`. */
  list(prefix: string): Promise<Kv[]>;
  /**
   * Deletes `key` only if it still holds `value` at `modRevision`, in one etcd
   * transaction. Returns whether it deleted.
   */
  deleteIf(key: string, value: string, modRevision: string): Promise<boolean>;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export interface PatroniHttp {
  /** One request to a member's REST API; `url` is absolute (`http://10.0.1.5:8008/restart`). */
  request(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown): Promise<HttpAnswer>;
}

export function etcd3Store(etcd: Etcd3): PatroniStore {
  return {
    async list(prefix) {
      const res = await etcd.getAll().prefix(prefix).exec();
      return res.kvs.map((kv) => ({
        key: kv.key.toString('utf8'),
        value: kv.value.toString('utf8'),
        modRevision: kv.mod_revision,
      }));
    },
    async deleteIf(key, value, modRevision) {
      const res = await etcd
        .if(key, 'Value', '==', value)
        .and(key, 'Mod', '==', modRevision)
        .then(etcd.delete().key(key))
        .commit();
      return res.succeeded;
    },
  };
}

export function fetchHttp(timeoutMs = 10_000): PatroniHttp {
  return {
    async request(method, url, body) {
      const res = await fetch(url, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return { status: res.status, body: await res.text() };
    },
  };
}

/** etcdctl inside one of the cluster's etcd member services (the first that answers). */
export function dockerEtcdStore(docker: Docker, etcdServices: string[]): PatroniStore {
  async function run(script: string, env: string[] = []): Promise<string> {
    let last: unknown;
    for (const service of etcdServices) {
      try {
        const r = await execRunning(docker, service, ['sh', '-c', script], env);
        if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `etcdctl exited ${r.exitCode}`);
        return r.stdout;
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }
  const etcdctl = 'etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=3s';
  return {
    async list(prefix) {
      const out = await run(`${etcdctl} get --prefix "$P" -w json`, [`P=${prefix}`]);
      const parsed = JSON.parse(out) as {
        kvs?: Array<{ key: string; value: string; mod_revision: number | string }>;
      };
      return (parsed.kvs ?? []).map((kv) => ({
        key: Buffer.from(kv.key, 'base64').toString('utf8'),
        value: Buffer.from(kv.value, 'base64').toString('utf8'),
        modRevision: String(kv.mod_revision),
      }));
    },
    async deleteIf(key, value, modRevision) {
      // etcdctl txn reads: compares, blank line, success requests, blank line, failure
      // requests, blank line. Key and value come in through the environment, never parsed
      // by the shell as code.
      const script =
        `printf 'value("%s") = "%s"\\nmod("%s") = "%s"\\n\\ndel %s\\n\\n\\n' "$K" "$V" "$K" "$R" "$K"` +
        ` | ${etcdctl} txn -w json`;
      const out = await run(script, [`K=${key}`, `V=${value}`, `R=${modRevision}`]);
      return (JSON.parse(out) as { succeeded?: boolean }).succeeded === true;
    },
  };
}

/** curl inside a running container of one of `services` (pgnode has curl; it sits on the overlay). */
export function dockerHttp(docker: Docker, services: string[]): PatroniHttp {
  return {
    async request(method, url, body) {
      const cmd = [
        'curl',
        '-sS',
        '--max-time',
        '30',
        '-o',
        '-',
        '-w',
        '\n%{http_code}',
        '-X',
        method,
        ...(body === undefined
          ? []
          : ['-H', 'Content-Type: application/json', '--data', JSON.stringify(body)]),
        url,
      ];
      let last: unknown;
      for (const service of services) {
        try {
          const r = await execRunning(docker, service, cmd);
          if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `curl exited ${r.exitCode}`);
          const cut = r.stdout.lastIndexOf('\n');
          return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
        } catch (err) {
          last = err;
        }
      }
      throw last instanceof Error ? last : new Error(String(last));
    },
  };
}

/** Runs `cmd` in a running container of `service` on this node. */
async function execRunning(
  docker: Docker,
  service: string,
  cmd: string[],
  env: string[] = [],
): Promise<ExecResult> {
  const running = (await serviceContainers(docker, service)).filter((c) => c.state === 'running');
  const first = running[0];
  if (!first) throw new Error(`no running container of service ${service} on this node`);
  return execIn(docker, first.id, cmd, { env });
}
