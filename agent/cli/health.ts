import { etcdctl } from './etcdctl.js';
import type Docker from 'dockerode';
import type { ClusterManifest } from '../manifests/types.js';
import { PATRONI_NAMESPACE } from '../core/names.js';

export interface MemberStatus {
  name: string;
  role: 'primary' | 'replica' | string;
  state: string;
  host: string;
  timeline: number | undefined;
  /** Bytes of WAL the member is behind its leader (replicas), from Patroni's keys. */
  lagBytes: number | undefined;
  replicationState: string | undefined;
}

export interface GroupStatus {
  scope: string;
  leader: string | undefined;
  members: MemberStatus[];
}

export interface HaproxyServer {
  backend: string;
  server: string;
  status: string;
  address: string;
}

export interface ClusterStatus {
  groups: GroupStatus[];
  haproxy: HaproxyServer[];
}

interface EtcdKv {
  key: string;
  value: string;
}

/** Reads every key under Patroni's namespace through etcdctl inside an etcd member. */
export async function readPatroniKeys(docker: Docker, m: ClusterManifest): Promise<EtcdKv[]> {
  const out = await etcdctl(docker, m.metadata.name, [
    'get',
    '--prefix',
    PATRONI_NAMESPACE,
    '-w',
    'json',
  ]);
  const parsed = JSON.parse(out) as { kvs?: Array<{ key: string; value: string }> };
  return (parsed.kvs ?? []).map((kv) => ({
    key: Buffer.from(kv.key, 'base64').toString('utf8'),
    value: Buffer.from(kv.value, 'base64').toString('utf8'),
  }));
}

function lsnToNumber(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** Pure: the status of each Patroni scope from its etcd keys. */
export function groupsFromKeys(kvs: EtcdKv[], scopes: string[]): GroupStatus[] {
  return scopes.map((scope) => {
    const prefix = `${PATRONI_NAMESPACE}${scope}/`;
    const leader = kvs.find((kv) => kv.key === `${prefix}leader`)?.value;
    const raw = kvs
      .filter((kv) => kv.key.startsWith(`${prefix}members/`))
      .map((kv) => {
        const name = kv.key.slice(`${prefix}members/`.length);
        const data = JSON.parse(kv.value) as Record<string, unknown>;
        return { name, data };
      });
    const leaderData = raw.find((r) => r.name === leader)?.data;
    const leaderLsn = lsnToNumber(leaderData?.xlog_location);
    const members = raw
      .map(({ name, data }): MemberStatus => {
        const role = String(data.role ?? 'unknown');
        const isPrimary = role === 'primary' || role === 'master';
        const lsn = lsnToNumber(data.replayed_location ?? data.xlog_location);
        return {
          name,
          role: isPrimary ? 'primary' : role,
          state: String(data.state ?? 'unknown'),
          host: String(data.conn_url ?? '')
            .replace(/^postgres(ql)?:\/\//, '')
            .replace(/\/.*$/, ''),
          timeline: typeof data.timeline === 'number' ? data.timeline : undefined,
          lagBytes:
            isPrimary || leaderLsn === undefined || lsn === undefined
              ? isPrimary
                ? 0
                : undefined
              : Math.max(0, leaderLsn - lsn),
          replicationState:
            typeof data.replication_state === 'string' ? data.replication_state : undefined,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    return { scope, leader, members };
  });
}

export interface StatsEndpoint {
  host: string;
  port: number;
}

/**
 * HAProxy's stats as CSV: by default from its published port on this host; the agent,
 * inside the cluster network, passes the service's name and inside port.
 */
export async function readHaproxy(
  m: ClusterManifest,
  at: StatsEndpoint = { host: '127.0.0.1', port: m.spec.haproxy.ports.stats },
): Promise<HaproxyServer[]> {
  const res = await fetch(`http://${at.host}:${at.port}/stats;csv`, {
    signal: AbortSignal.timeout(3000),
  });
  if (!res.ok) throw new Error(`HAProxy stats answered ${res.status}`);
  return parseHaproxyCsv(await res.text());
}

export function parseHaproxyCsv(csv: string): HaproxyServer[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  return lines
    .slice(1)
    .map((l) => l.split(','))
    .filter((f) => f[col('svname')] !== 'FRONTEND' && f[col('svname')] !== 'BACKEND')
    .map((f) => ({
      backend: f[col('pxname')] ?? '',
      server: f[col('svname')] ?? '',
      status: f[col('status')] ?? '',
      address: f[col('addr')] ?? '',
    }))
    .filter((s) => s.backend !== 'stats' && !s.status.startsWith('MAINT'));
}

export function scopesOf(m: ClusterManifest): string[] {
  return [
    m.spec.coordinator.name,
    ...m.spec.workerGroups.filter((g) => !g.remove).map((g) => g.name),
  ];
}

export async function readClusterStatus(
  docker: Docker,
  m: ClusterManifest,
  options: { haproxy?: StatsEndpoint } = {},
): Promise<ClusterStatus> {
  const kvs = await readPatroniKeys(docker, m);
  // HAProxy may be restarting; its absence is part of the status, not an error.
  const haproxy = await readHaproxy(m, options.haproxy).catch((): HaproxyServer[] => []);
  return { groups: groupsFromKeys(kvs, scopesOf(m)), haproxy };
}

/**
 * Pure: why the cluster is not healthy yet, or undefined when it is. Healthy means every
 * group has a leader and all its members running (replicas streaming), and HAProxy sends
 * writes to exactly one coordinator and reads to the coordinator replicas.
 */
export function unhealthyReason(m: ClusterManifest, status: ClusterStatus): string | undefined {
  const expected = new Map<string, number>([
    [m.spec.coordinator.name, m.spec.coordinator.members],
    ...m.spec.workerGroups
      .filter((g) => !g.remove)
      .map((g): [string, number] => [g.name, g.members]),
  ]);
  for (const g of status.groups) {
    const want = expected.get(g.scope) ?? 0;
    if (!g.leader) return `group ${g.scope} has no leader`;
    const primaries = g.members.filter((x) => x.role === 'primary');
    if (primaries.length !== 1) return `group ${g.scope} has ${primaries.length} primaries`;
    if (g.members.length !== want)
      return `group ${g.scope} has ${g.members.length}/${want} members`;
    const notRunning = g.members.filter((x) => !['running', 'streaming'].includes(x.state));
    if (notRunning.length > 0) {
      return `group ${g.scope}: ${notRunning.map((x) => `${x.name} is ${x.state}`).join(', ')}`;
    }
    const notStreaming = g.members.filter(
      (x) =>
        x.role !== 'primary' &&
        x.replicationState !== undefined &&
        x.replicationState !== 'streaming',
    );
    if (notStreaming.length > 0) {
      return `group ${g.scope}: ${notStreaming.map((x) => `${x.name} is ${x.replicationState}`).join(', ')}`;
    }
  }
  const up = (backend: string): number =>
    status.haproxy.filter((s) => s.backend === backend && s.status.startsWith('UP')).length;
  if (up('read-write') !== 1) return `HAProxy has ${up('read-write')} coordinators up for writes`;
  const replicas = Math.min(1, m.spec.coordinator.members - 1);
  if (up('read-only') < replicas) return 'HAProxy has no coordinator replica up for reads';
  return undefined;
}
