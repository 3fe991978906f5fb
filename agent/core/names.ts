/**
 * Every Swarm name pgmesh gives a resource, in one place. Services address each other by
 * these names (DNS, endpoint_mode dnsrr), never by task IPs.
 */

export function networkName(cluster: string): string {
  return `${cluster}-net`;
}

/** A database group's service: one service per group, one task per member. */
export function groupServiceName(cluster: string, group: string): string {
  return `${cluster}-${group}`;
}

/** Resolves to the IPs of every running member of a group (dnsrr). */
export function groupTasksHost(cluster: string, group: string): string {
  return `tasks.${groupServiceName(cluster, group)}`;
}

/** Data volume of one member; `{{.Task.Slot}}` is expanded by Swarm per task. */
export function groupVolumeTemplate(cluster: string, group: string): string {
  return `${cluster}-${group}-data-{{.Task.Slot}}`;
}

/** Patroni member name; Swarm expands the slot so each member keeps its name. */
export function memberNameTemplate(group: string): string {
  return `${group}-{{.Task.Slot}}`;
}

/** etcd members are one service each: each needs a stable DNS name for its peers. */
export function etcdServiceName(cluster: string, index: number): string {
  return `${cluster}-etcd-${index}`;
}

export function etcdVolumeName(cluster: string, index: number): string {
  return `${cluster}-etcd-${index}-data`;
}

export function etcdClientUrls(cluster: string, members: number): string[] {
  return Array.from(
    { length: members },
    (_, i) => `http://${etcdServiceName(cluster, i + 1)}:2379`,
  );
}

export function haproxyServiceName(cluster: string): string {
  return `${cluster}-haproxy`;
}

/** Agent replicas are one service each, so each can publish its own API port. */
export function agentServiceName(cluster: string, index: number): string {
  return `${cluster}-agent-${index}`;
}

/** The bare repository `up` makes on the host when the manifest names no repository. */
export function localRepositoryPath(cluster: string): string {
  return `/var/lib/pgmesh/${cluster}/manifests.git`;
}

/** Where the agent container sees that repository (bind-mounted read-only). */
export const AGENT_REPOSITORY_MOUNT = '/var/lib/pgmesh/manifests.git';

export type GeneratedSecret =
  'postgres-password' | 'replication-password' | 'agent-token' | 'webhook-secret';

/** Swarm secret name; inside containers the file is /run/secrets/<short name>. */
export function secretName(cluster: string, secret: GeneratedSecret): string {
  return `${cluster}-${secret}`;
}

/** A config's Swarm name carries a hash of its content: configs are immutable in Swarm. */
export function configName(cluster: string, logicalName: string, contentHash: string): string {
  return `${cluster}-${logicalName}-${contentHash.slice(0, 10)}`;
}

/** Patroni keeps its keys under this namespace in etcd: <namespace><scope>/leader etc. */
export const PATRONI_NAMESPACE = '/patroni/';

/** Ports inside the containers (fixed; only HAProxy's published ports are configurable). */
export const PORTS = {
  postgres: 5432,
  pgbouncer: 6432,
  patroniRest: 8008,
  etcdClient: 2379,
  etcdPeer: 2380,
  haproxyReadWrite: 5432,
  haproxyReadOnly: 5433,
  haproxyStats: 8404,
  agentApi: 8080,
} as const;

/** Paths inside the containers (the image contract in images/README.md). */
export const PATHS = {
  patroniConfig: '/etc/pgmesh/patroni.yml',
  pgbouncerConfig: '/etc/pgmesh/pgbouncer.ini',
  haproxyConfig: '/etc/pgmesh/haproxy.cfg',
  dataDir: '/var/lib/pgmesh',
  etcdDataDir: '/var/lib/etcd',
  dockerSocket: '/var/run/docker.sock',
} as const;
