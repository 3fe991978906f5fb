import { createHash } from 'node:crypto';
import type { ClusterManifest, GroupSpec, Placement } from '../../manifests/types.js';
import {
  LABEL_CLUSTER,
  LABEL_GROUP,
  LABEL_LOGICAL,
  LABEL_MANAGED,
  LABEL_ROLE,
  type DesiredConfig,
  type DesiredService,
  type DesiredSwarm,
  type Labels,
  type ServiceRole,
  type ServiceShape,
} from './types.js';
import { haproxyCfg, patroniYml, pgbouncerIni } from './files.js';
import {
  AGENT_REPOSITORY_MOUNT,
  PATHS,
  PORTS,
  agentServiceName,
  configName,
  etcdClientUrls,
  localRepositoryPath,
  etcdServiceName,
  etcdVolumeName,
  groupServiceName,
  groupVolumeTemplate,
  haproxyServiceName,
  memberNameTemplate,
  networkName,
  secretName,
} from '../../core/names.js';

export interface ImageSet {
  pgnode: string;
  etcd: string;
  haproxy: string;
  agent: string;
}

export interface SwarmNode {
  id: string;
  ready: boolean;
}

export interface RenderContext {
  images: ImageSet;
  /** The swarm's nodes: placement spreads members only when there are enough of them. */
  nodes: SwarmNode[];
  /**
   * Secrets that Role manifests name (`passwordSecret`): generated like the cluster's own
   * and mounted into the agent, which sets the roles' passwords from them.
   */
  roleSecrets?: string[];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function baseLabels(cluster: string): Labels {
  return { [LABEL_MANAGED]: 'true', [LABEL_CLUSTER]: cluster };
}

function serviceLabels(cluster: string, role: ServiceRole, group: string): Labels {
  return { ...baseLabels(cluster), [LABEL_ROLE]: role, [LABEL_GROUP]: group };
}

function makeConfig(cluster: string, logicalName: string, data: string): DesiredConfig {
  return {
    name: configName(cluster, logicalName, sha256(data)),
    logicalName,
    data,
    labels: { ...baseLabels(cluster), [LABEL_LOGICAL]: logicalName },
  };
}

function emptyShape(image: string, labels: Labels, network: string): ServiceShape {
  return {
    image,
    replicas: 1,
    command: [],
    args: [],
    env: [],
    hostname: '',
    mounts: [],
    configs: [],
    secrets: [],
    networks: [network],
    ports: [],
    constraints: [],
    maxReplicasPerNode: 0,
    labels,
    memoryLimitBytes: 0,
    dnsOptions: [],
  };
}

function readyNodeIds(nodes: SwarmNode[]): string[] {
  return nodes
    .filter((n) => n.ready)
    .map((n) => n.id)
    .sort();
}

/** One member per node when the manifest asks for it and the swarm has enough nodes. */
function spreadLimit(placement: Placement, members: number, nodes: SwarmNode[]): number {
  const ready = readyNodeIds(nodes).length;
  return placement.spreadMembers && ready >= members && ready > 1 ? 1 : 0;
}

/** Swarm's template for a task's container name, which its overlay's DNS resolves. */
export const TASK_NAME_TEMPLATE = '{{.Task.Name}}';

/**
 * One resolver attempt of 1 s in database members (resolv.conf defaults: 5 s, 2 attempts).
 * A primary cut off the network otherwise spent 10 s per failed lookup of an etcd name,
 * held its Patroni loop past retry_timeout and stayed primary while a replica promoted
 * (two writable primaries for about 10 s, docs/ha.md "DNS timeouts").
 */
export const DATABASE_DNS_OPTIONS = ['timeout:1', 'attempts:1'] as const;

function renderGroup(
  m: ClusterManifest,
  group: GroupSpec,
  role: 'coordinator' | 'worker',
  ctx: RenderContext,
  configs: DesiredConfig[],
): DesiredService {
  const cluster = m.metadata.name;
  const net = networkName(cluster);
  const patroni = makeConfig(cluster, `patroni-${group.name}`, patroniYml(m, group));
  const pgbouncer = configs.find((c) => c.logicalName === 'pgbouncer');
  if (!pgbouncer) throw new Error('pgbouncer config must be rendered before groups');
  configs.push(patroni);
  const name = groupServiceName(cluster, group.name);
  const shape = emptyShape(ctx.images.pgnode, serviceLabels(cluster, role, group.name), net);
  shape.replicas = group.members;
  shape.env = [
    `PGMESH_SCOPE=${group.name}`,
    `PGMESH_MEMBER=${memberNameTemplate(group.name)}`,
    // The task's DNS name on the overlay, for Patroni's REST address: it stops resolving the
    // moment the container dies, so a peer's leader race fails at once on a dead member
    // instead of waiting out Patroni's 2 s connect timeout on its dead IP (docs/ha.md).
    `PGMESH_ADVERTISE_NAME=${TASK_NAME_TEMPLATE}`,
  ];
  shape.hostname = `${name}-{{.Task.Slot}}`;
  shape.mounts = [
    {
      type: 'volume',
      source: groupVolumeTemplate(cluster, group.name),
      target: PATHS.dataDir,
      readOnly: false,
    },
  ];
  shape.configs = [
    { name: patroni.name, target: PATHS.patroniConfig },
    { name: pgbouncer.name, target: PATHS.pgbouncerConfig },
  ];
  shape.secrets = [
    { name: secretName(cluster, 'postgres-password'), target: 'postgres-password' },
    { name: secretName(cluster, 'replication-password'), target: 'replication-password' },
  ];
  shape.constraints = [...group.placement.constraints];
  shape.maxReplicasPerNode = spreadLimit(group.placement, group.members, ctx.nodes);
  shape.dnsOptions = [...DATABASE_DNS_OPTIONS];
  return { name, role, group: group.name, shape };
}

function renderEtcd(m: ClusterManifest, ctx: RenderContext): DesiredService[] {
  const cluster = m.metadata.name;
  const count = m.spec.etcd.members;
  const peers = Array.from(
    { length: count },
    (_, i) => `etcd-${i + 1}=http://${etcdServiceName(cluster, i + 1)}:${PORTS.etcdPeer}`,
  ).join(',');
  const nodeIds = readyNodeIds(ctx.nodes);
  const pin = m.spec.etcd.placement.spreadMembers && nodeIds.length >= count && count > 1;
  return Array.from({ length: count }, (_, i) => {
    const index = i + 1;
    const name = etcdServiceName(cluster, index);
    const shape = emptyShape(
      ctx.images.etcd,
      serviceLabels(cluster, 'etcd', `etcd-${index}`),
      networkName(cluster),
    );
    shape.hostname = name;
    shape.env = [
      `ETCD_NAME=etcd-${index}`,
      `ETCD_DATA_DIR=${PATHS.etcdDataDir}/data`,
      `ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:${PORTS.etcdClient}`,
      `ETCD_ADVERTISE_CLIENT_URLS=http://${name}:${PORTS.etcdClient}`,
      `ETCD_LISTEN_PEER_URLS=http://0.0.0.0:${PORTS.etcdPeer}`,
      `ETCD_INITIAL_ADVERTISE_PEER_URLS=http://${name}:${PORTS.etcdPeer}`,
      `ETCD_INITIAL_CLUSTER=${peers}`,
      'ETCD_INITIAL_CLUSTER_STATE=new',
      `ETCD_INITIAL_CLUSTER_TOKEN=${cluster}-etcd`,
    ];
    shape.mounts = [
      {
        type: 'volume',
        source: etcdVolumeName(cluster, index),
        target: PATHS.etcdDataDir,
        readOnly: false,
      },
    ];
    shape.constraints = [...m.spec.etcd.placement.constraints];
    if (pin) shape.constraints.push(`node.id==${nodeIds[i]}`);
    return { name, role: 'etcd', group: `etcd-${index}`, shape };
  });
}

function renderHaproxy(
  m: ClusterManifest,
  ctx: RenderContext,
  configs: DesiredConfig[],
): DesiredService {
  const cluster = m.metadata.name;
  const cfg = makeConfig(cluster, 'haproxy', haproxyCfg(m));
  configs.push(cfg);
  const name = haproxyServiceName(cluster);
  const shape = emptyShape(
    ctx.images.haproxy,
    serviceLabels(cluster, 'haproxy', 'haproxy'),
    networkName(cluster),
  );
  shape.hostname = name;
  shape.configs = [{ name: cfg.name, target: PATHS.haproxyConfig }];
  const p = m.spec.haproxy.ports;
  shape.ports = [
    { target: PORTS.haproxyReadWrite, published: p.readWrite, protocol: 'tcp', mode: 'host' },
    { target: PORTS.haproxyReadOnly, published: p.readOnly, protocol: 'tcp', mode: 'host' },
    { target: PORTS.haproxyStats, published: p.stats, protocol: 'tcp', mode: 'host' },
  ];
  shape.constraints = [...m.spec.haproxy.placement.constraints];
  return { name, role: 'haproxy', group: 'haproxy', shape };
}

/** The environment that tells an agent replica what it runs and where things are. */
export function agentEnv(m: ClusterManifest, images: ImageSet, index: number): string[] {
  const a = m.spec.agent;
  return [
    `PGMESH_CLUSTER=${m.metadata.name}`,
    `PGMESH_AGENT_ID=agent-${index}`,
    `PGMESH_COORDINATOR=${m.spec.coordinator.name}`,
    `PGMESH_DATABASE=${m.spec.postgres.database}`,
    `PGMESH_ETCD_HOSTS=${etcdClientUrls(m.metadata.name, m.spec.etcd.members).join(',')}`,
    `PGMESH_GIT_URL=${a.repository.url || `file://${AGENT_REPOSITORY_MOUNT}`}`,
    `PGMESH_GIT_BRANCH=${a.repository.branch}`,
    `PGMESH_GIT_PATH=${a.repository.path}`,
    `PGMESH_POLL_INTERVAL_SECONDS=${a.pollIntervalSeconds}`,
    `PGMESH_LEADER_TTL_SECONDS=${a.leaderTtlSeconds}`,
    `PGMESH_FENCED_FAILOVER=${m.spec.patroni.fencedFailover ? 'on' : 'off'}`,
    `PGMESH_API_PORT=${PORTS.agentApi}`,
    'PGMESH_API_TOKEN_FILE=/run/secrets/agent-token',
    'PGMESH_WEBHOOK_SECRET_FILE=/run/secrets/webhook-secret',
    `PGMESH_IMAGE_PGNODE=${images.pgnode}`,
    `PGMESH_IMAGE_ETCD=${images.etcd}`,
    `PGMESH_IMAGE_HAPROXY=${images.haproxy}`,
    `PGMESH_IMAGE_AGENT=${images.agent}`,
  ];
}

function renderAgents(m: ClusterManifest, ctx: RenderContext): DesiredService[] {
  const cluster = m.metadata.name;
  const a = m.spec.agent;
  return Array.from({ length: a.replicas }, (_, i) => {
    const index = i + 1;
    const name = agentServiceName(cluster, index);
    const shape = emptyShape(
      ctx.images.agent,
      serviceLabels(cluster, 'agent', `agent-${index}`),
      networkName(cluster),
    );
    shape.hostname = name;
    shape.env = agentEnv(m, ctx.images, index);
    shape.mounts = [
      // The agent drives Swarm through the engine's API: it runs on a manager.
      { type: 'bind', source: PATHS.dockerSocket, target: PATHS.dockerSocket, readOnly: false },
    ];
    if (!a.repository.url) {
      shape.mounts.push({
        type: 'bind',
        source: localRepositoryPath(cluster),
        target: AGENT_REPOSITORY_MOUNT,
        readOnly: true,
      });
    }
    shape.secrets = [
      { name: secretName(cluster, 'agent-token'), target: 'agent-token' },
      { name: secretName(cluster, 'webhook-secret'), target: 'webhook-secret' },
      // The engine's user mapping and the shards backend log in as the superuser.
      { name: secretName(cluster, 'postgres-password'), target: 'postgres-password' },
      ...(ctx.roleSecrets ?? []).map((name) => ({ name, target: name })),
    ];
    shape.ports = [
      { target: PORTS.agentApi, published: a.port + i, protocol: 'tcp', mode: 'host' },
    ];
    shape.constraints = ['node.role==manager'];
    return { name, role: 'agent', group: `agent-${index}`, shape };
  });
}

/**
 * The whole Swarm side of a cluster, as data: pure, so plan() and its tests see exactly
 * what apply() would create. Groups marked `remove: true` are left out and listed in
 * `groupsToRemove`, which is what allows plan() to delete their services.
 */
export function renderSwarm(m: ClusterManifest, ctx: RenderContext): DesiredSwarm {
  const cluster = m.metadata.name;
  const configs: DesiredConfig[] = [makeConfig(cluster, 'pgbouncer', pgbouncerIni(m))];
  const keep = m.spec.workerGroups.filter((g) => !g.remove);
  const services: DesiredService[] = [
    ...renderEtcd(m, ctx),
    renderGroup(m, m.spec.coordinator, 'coordinator', ctx, configs),
    ...keep.map((g) => renderGroup(m, g, 'worker', ctx, configs)),
    renderHaproxy(m, ctx, configs),
    ...renderAgents(m, ctx),
  ];
  return {
    cluster,
    networks: [{ name: networkName(cluster), labels: baseLabels(cluster) }],
    secrets: [
      ...(
        ['postgres-password', 'replication-password', 'agent-token', 'webhook-secret'] as const
      ).map((s) => ({
        name: secretName(cluster, s),
        labels: { ...baseLabels(cluster), [LABEL_LOGICAL]: s },
        generate: { bytes: 24 },
      })),
      ...(ctx.roleSecrets ?? []).map((name) => ({
        name,
        labels: { ...baseLabels(cluster), [LABEL_LOGICAL]: `role:${name}` },
        generate: { bytes: 24 },
      })),
    ],
    configs,
    services,
    groupsToRemove: m.spec.workerGroups.filter((g) => g.remove).map((g) => g.name),
  };
}
