/**
 * `pgmesh lab`: N Docker-in-Docker hosts on this machine's engine, one Swarm across them,
 * and a registry they pull from. The recipe (capabilities, cgroups, data roots) is in
 * readme.md beside this file; why each flag is needed is said where it is set.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import Docker from 'dockerode';
import { LabError, LabInputError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { waitFor } from '../core/wait.js';
import { buildImages } from '../host/images.js';
import { checkRegistry } from '../host/registry.js';
import {
  checkLabMemory,
  labLayout,
  memAvailableBytes,
  type LabHostLayout,
  type LabLayout,
  type LabOptions,
} from './layout.js';

export const LABEL_LAB = 'pgmesh.lab';
const LABEL_LAB_ROLE = 'pgmesh.lab.role';
const LABEL_LAB_INDEX = 'pgmesh.lab.index';
const LABEL_LAB_REGISTRY_PORT = 'pgmesh.lab.registry-port';

/** The engine's API port on each lab host, on the lab's private network only. */
export const LAB_ENGINE_PORT = 2375;

/**
 * `--privileged` fails in this sandbox ("unable to apply caps": CAP_SYS_RESOURCE is not
 * ours to give); this list is what dockerd, containerd, overlay networks and iptables need.
 */
const LAB_HOST_CAPS = [
  'SYS_ADMIN',
  'NET_ADMIN',
  'NET_RAW',
  'SYS_PTRACE',
  'MKNOD',
  'SYS_CHROOT',
  'SETFCAP',
  'SYS_MODULE',
  'IPC_LOCK',
  'SYS_NICE',
  'AUDIT_WRITE',
  'DAC_READ_SEARCH',
  'LINUX_IMMUTABLE',
  'SYS_RAWIO',
  'SYS_TIME',
];

export interface LabDeps {
  /** This machine's engine (the lab's hosts are its containers); never DOCKER_HOST. */
  outer: Docker;
  log: Logger;
  onProgress?: (line: string) => void;
  repoRoot: string;
  baseImage: string;
}

export function localEngine(): Docker {
  // docker-modem fills host/port from DOCKER_HOST unless they are given, even undefined.
  return new Docker({
    socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
    host: undefined,
    port: undefined,
  });
}

/** A client for a lab host's own engine. */
export function hostEngine(ip: string): Docker {
  return new Docker({ host: ip, port: LAB_ENGINE_PORT, protocol: 'http', timeout: 30_000 });
}

/** The fields of an engine's node list that the lab reads. */
export interface LabNode {
  ID?: string;
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
  Spec?: { Availability?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string };
}

export interface LabHostStatus extends LabHostLayout {
  state: string;
  node?: { id: string; state: string; availability: string; manager: string };
}

export interface LabStatus {
  name: string;
  registry: { address: string; state: string };
  hosts: LabHostStatus[];
  /** DOCKER_HOST for `pgmesh up` on this lab: the first manager's engine. */
  dockerHost: string | undefined;
}

async function labContainers(outer: Docker, name: string): Promise<Docker.ContainerInfo[]> {
  return outer.listContainers({ all: true, filters: { label: [`${LABEL_LAB}=${name}`] } });
}

/** Reads an existing lab back from the outer engine's container labels. */
export async function findLab(outer: Docker, name: string): Promise<LabLayout | undefined> {
  const containers = await labContainers(outer, name);
  const hosts = containers.filter((c) => c.Labels[LABEL_LAB_ROLE] === 'host');
  const registry = containers.find((c) => c.Labels[LABEL_LAB_ROLE] === 'registry');
  if (hosts.length === 0 || !registry) return undefined;
  const net = await outer
    .getNetwork(`${name}-net`)
    .inspect()
    .catch(() => undefined);
  const subnet = (net as { IPAM?: { Config?: Array<{ Subnet?: string }> } } | undefined)?.IPAM
    ?.Config?.[0]?.Subnet;
  if (!subnet) return undefined;
  return labLayout({
    name,
    hosts: hosts.length,
    subnet,
    registryPort: Number(registry.Labels[LABEL_LAB_REGISTRY_PORT]),
  });
}

/**
 * The lab whose host `dockerHost` (tcp://IP:2375) names, if any: `pgmesh up` then uses the
 * lab's registry when the manifest names none.
 */
export async function labOfDockerHost(
  outer: Docker,
  dockerHost: string,
): Promise<LabLayout | undefined> {
  const ip = /^tcp:\/\/([0-9.]+):/.exec(dockerHost)?.[1];
  if (!ip) return undefined;
  const all = await outer
    .listContainers({ all: true, filters: { label: [LABEL_LAB] } })
    .catch(() => []);
  const names = [...new Set(all.map((c) => c.Labels[LABEL_LAB]))];
  for (const name of names) {
    const lab = await findLab(outer, name);
    if (lab?.hosts.some((h) => h.ip === ip)) return lab;
  }
  return undefined;
}

async function ensureImages(deps: LabDeps): Promise<{ labhost: string; registry: string }> {
  const built = await buildImages({
    repoRoot: deps.repoRoot,
    base: deps.baseImage,
    log: deps.log,
    only: ['labhost', 'registry'],
    onProgress: deps.onProgress,
  });
  return built;
}

async function startRegistry(deps: LabDeps, lab: LabLayout, image: string): Promise<void> {
  const dir = `${lab.dataRoot}/registry`;
  await mkdir(dir, { recursive: true });
  const c = await deps.outer.createContainer({
    name: lab.registry.container,
    Image: image,
    Labels: {
      [LABEL_LAB]: lab.name,
      [LABEL_LAB_ROLE]: 'registry',
      [LABEL_LAB_REGISTRY_PORT]: String(lab.registry.localPort),
    },
    HostConfig: {
      NetworkMode: lab.network,
      Binds: [`${dir}:/var/lib/registry`],
      // Published on loopback only: the outer engine trusts a loopback registry over plain
      // HTTP, so the builder pushes without any engine setting (see labhost-entry.sh).
      PortBindings: {
        [`${lab.registry.port}/tcp`]: [
          { HostIp: '127.0.0.1', HostPort: String(lab.registry.localPort) },
        ],
      },
      RestartPolicy: { Name: 'unless-stopped' },
    },
    ExposedPorts: { [`${lab.registry.port}/tcp`]: {} },
    NetworkingConfig: {
      EndpointsConfig: { [lab.network]: { IPAMConfig: { IPv4Address: lab.registry.ip } } },
    },
  });
  await c.start();
}

async function startHost(deps: LabDeps, lab: LabLayout, h: LabHostLayout, image: string) {
  const dataRoot = `${lab.dataRoot}/hosts/${h.index}`;
  await mkdir(dataRoot, { recursive: true });
  // The agent bind-mounts the cluster's local Git repository (/var/lib/pgmesh/<cluster>/
  // manifests.git) from its node; every lab host sees this machine's, read-only.
  await mkdir('/var/lib/pgmesh', { recursive: true });
  const c = await deps.outer.createContainer({
    name: h.container,
    Hostname: h.hostname,
    Image: image,
    Env: [
      `PGMESH_LAB_HOST=${h.container}`,
      `PGMESH_LAB_REGISTRY=${lab.registry.ip}:${lab.registry.port}`,
      `PGMESH_LAB_REGISTRY_LOCAL_PORT=${lab.registry.localPort}`,
      // /proc/sys is read-only inside: dockerd must not try to enable IPv6 on the
      // overlay's interfaces, or overlay networks cannot be set up.
      'DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1',
    ],
    Labels: {
      [LABEL_LAB]: lab.name,
      [LABEL_LAB_ROLE]: 'host',
      [LABEL_LAB_INDEX]: String(h.index),
    },
    HostConfig: {
      NetworkMode: lab.network,
      CapAdd: LAB_HOST_CAPS,
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      // cgroup v1 here: the inner engine needs the real hierarchy, and each host its own
      // subtree (dockerd --cgroup-parent=/<container>, labhost-entry.sh) so hosts'
      // containers do not collide.
      CgroupnsMode: 'host',
      Binds: [
        '/sys/fs/cgroup:/sys/fs/cgroup:rw',
        // overlay2 cannot sit on the container's own overlay: a bind mount (ext4) is.
        `${dataRoot}:/var/lib/docker`,
        '/var/lib/pgmesh:/var/lib/pgmesh:ro',
      ],
      RestartPolicy: { Name: 'no' },
    },
    NetworkingConfig: {
      EndpointsConfig: { [lab.network]: { IPAMConfig: { IPv4Address: h.ip } } },
    },
  } as Docker.ContainerCreateOptions);
  await c.start();
}

/** Waits until a lab host's engine answers on its tcp port. */
export async function waitEngine(h: LabHostLayout, timeoutMs = 60_000): Promise<void> {
  const engine = hostEngine(h.ip);
  await waitFor(
    async () => {
      await engine.ping();
      return true;
    },
    { what: `the engine of lab host ${h.hostname} (${h.ip})`, timeoutMs, intervalMs: 250 },
  );
}

async function formSwarm(lab: LabLayout, onProgress?: (line: string) => void): Promise<void> {
  const [first, ...rest] = lab.hosts;
  const lead = hostEngine(first.ip);
  await lead.swarmInit({ ListenAddr: `0.0.0.0:2377`, AdvertiseAddr: first.ip });
  const info = (await lead.swarmInspect()) as { JoinTokens: { Manager: string; Worker: string } };
  for (const h of rest) {
    onProgress?.(`join ${h.hostname} as ${h.role}`);
    await hostEngine(h.ip).swarmJoin({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: h.ip,
      RemoteAddrs: [`${first.ip}:2377`],
      JoinToken: h.role === 'manager' ? info.JoinTokens.Manager : info.JoinTokens.Worker,
    });
  }
  await waitSwarmWhole(lab, 120_000);
}

/** Every host's node is ready and active in the swarm (seen from the first manager up). */
export async function waitSwarmWhole(lab: LabLayout, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const nodes = await swarmNodes(lab);
      const ready = nodes.filter((n) => n.Status?.State === 'ready').length;
      return ready === lab.hosts.length ? true : `${ready}/${lab.hosts.length} nodes ready`;
    },
    { what: `the swarm of lab ${lab.name} to have every host ready`, timeoutMs, intervalMs: 500 },
  );
}

/** The swarm's nodes, asked of the first manager whose engine answers. */
export async function swarmNodes(lab: LabLayout): Promise<LabNode[]> {
  let last: unknown;
  for (const h of lab.hosts.filter((x) => x.role === 'manager')) {
    try {
      return (await hostEngine(h.ip).listNodes()) as LabNode[];
    } catch (err) {
      last = err;
    }
  }
  throw new LabError(`no manager of lab ${lab.name} answers`, { cause: last });
}

export interface LabUpOptions extends LabOptions {
  /** /proc/meminfo's text; tests pass their own. */
  meminfo?: string;
}

/**
 * Creates the lab: every check on the input first (host count, memory, a lab already
 * there with another shape), then the images, the network, the registry, the hosts and
 * the swarm. An existing lab of the same shape is left as it is.
 */
export async function labUp(deps: LabDeps, options: LabUpOptions): Promise<LabLayout> {
  const lab = labLayout(options);
  const existing = await findLab(deps.outer, options.name);
  if (existing) {
    if (existing.hosts.length !== lab.hosts.length) {
      throw new LabInputError(
        `lab ${options.name} already has ${existing.hosts.length} hosts; \`pgmesh lab down\` first to make one of ${lab.hosts.length}`,
      );
    }
    deps.onProgress?.(`lab ${options.name} is already up`);
    return existing;
  }
  checkLabMemory(
    lab.hosts.length,
    memAvailableBytes(options.meminfo ?? (await readFile('/proc/meminfo', 'utf8'))),
  );
  const leftovers = await labContainers(deps.outer, options.name);
  if (leftovers.length > 0) {
    throw new LabInputError(
      `lab ${options.name} is half there (${leftovers.map((c) => c.Names[0]).join(', ')}); \`pgmesh lab down\` first`,
    );
  }
  const images = await ensureImages(deps);
  deps.onProgress?.(`network ${lab.network} (${lab.subnet})`);
  try {
    await deps.outer.createNetwork({
      Name: lab.network,
      Driver: 'bridge',
      Labels: { [LABEL_LAB]: lab.name },
      IPAM: { Config: [{ Subnet: lab.subnet, Gateway: lab.gateway }] },
    });
  } catch (err) {
    throw new LabError(`cannot create network ${lab.network} (${lab.subnet})`, { cause: err });
  }
  deps.onProgress?.(`registry ${lab.registryAddress}`);
  await startRegistry(deps, lab, images.registry);
  await waitFor(
    async () => {
      await checkRegistry(lab.registryAddress, 1000);
      return true;
    },
    { what: `the lab registry at ${lab.registryAddress}`, timeoutMs: 30_000, intervalMs: 250 },
  );
  for (const h of lab.hosts) {
    deps.onProgress?.(`host ${h.hostname} (${h.ip}, ${h.role})`);
    await startHost(deps, lab, h, images.labhost);
  }
  await Promise.all(lab.hosts.map((h) => waitEngine(h)));
  deps.onProgress?.('swarm');
  await formSwarm(lab, deps.onProgress);
  return lab;
}

export async function labStatus(outer: Docker, name: string): Promise<LabStatus | undefined> {
  const lab = await findLab(outer, name);
  if (!lab) return undefined;
  const containers = await labContainers(outer, name);
  const stateOf = (n: string): string =>
    containers.find((c) => c.Names.includes(`/${n}`))?.State ?? 'missing';
  const nodes = await swarmNodes(lab).catch((): LabNode[] => []);
  const hosts = lab.hosts.map((h): LabHostStatus => {
    const n = nodes.find((x) => x.Description?.Hostname === h.hostname);
    return {
      ...h,
      state: stateOf(h.container),
      node: n
        ? {
            id: n.ID ?? '',
            state: n.Status?.State ?? 'unknown',
            availability: n.Spec?.Availability ?? 'unknown',
            manager: n.ManagerStatus
              ? n.ManagerStatus.Leader
                ? 'leader'
                : String(n.ManagerStatus.Reachability ?? '')
              : '',
          }
        : undefined,
    };
  });
  const registryUp = await checkRegistry(lab.registryAddress, 1000).then(
    () => 'up',
    () => 'down',
  );
  const manager = hosts.find((h) => h.role === 'manager' && h.state === 'running');
  return {
    name,
    registry: {
      address: lab.registryAddress,
      state: `${stateOf(lab.registry.container)}, ${registryUp}`,
    },
    hosts,
    dockerHost: manager ? `tcp://${manager.ip}:${LAB_ENGINE_PORT}` : undefined,
  };
}

/** Removes the lab's hosts (their engines, swarm and containers with them), registry, network and data. */
export async function labDown(
  outer: Docker,
  name: string,
  onProgress?: (line: string) => void,
): Promise<void> {
  for (const c of await labContainers(outer, name)) {
    onProgress?.(`remove ${c.Names[0]?.slice(1)}`);
    await outer.getContainer(c.Id).remove({ force: true, v: true });
  }
  const net = outer.getNetwork(`${name}-net`);
  await net.remove().catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404)
      throw new LabError(`cannot remove network ${name}-net`, { cause: err });
  });
  onProgress?.(`remove /var/lib/${name}`);
  await rm(`/var/lib/${name}`, { recursive: true, force: true });
}

/** Kills a host at once: its engine and every container on it stop together (a power cut). */
export async function labKillHost(outer: Docker, lab: LabLayout, index: number): Promise<void> {
  await outer.getContainer(lab.hosts[index - 1].container).kill();
}

/** Starts a killed or stopped host again; its engine rejoins the swarm from its data root. */
export async function labStartHost(outer: Docker, lab: LabLayout, index: number): Promise<void> {
  const h = lab.hosts[index - 1];
  await outer.getContainer(h.container).start();
  await waitEngine(h);
}
