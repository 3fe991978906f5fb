import type Docker from 'dockerode';
import {
  LABEL_CLUSTER,
  LABEL_GROUP,
  LABEL_ROLE,
  type FileRef,
  type Labels,
  type LiveService,
  type LiveSwarm,
  type MountSpec,
  type PortSpec,
  type ServiceRole,
  type ServiceShape,
} from './types.js';

function pgmeshLabels(labels: Labels | undefined): Labels {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => k.startsWith('pgmesh.')));
}

/** Reads the Swarm resources that carry this cluster's labels, and the swarm's nodes. */
export async function observeSwarm(docker: Docker, cluster: string): Promise<LiveSwarm> {
  const filter = { label: [`${LABEL_CLUSTER}=${cluster}`] };
  const [networks, configs, secrets, services, nodes, allNetworks] = await Promise.all([
    docker.listNetworks({ filters: filter }),
    docker.listConfigs({ filters: filter }),
    docker.listSecrets({ filters: filter }),
    docker.listServices({ filters: filter }),
    docker.listNodes(),
    docker.listNetworks(),
  ]);
  const networkNames = new Map(allNetworks.map((n) => [n.Id, n.Name]));
  return {
    observedAt: new Date().toISOString(),
    networks: networks.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} })),
    configs: configs.map((c) => ({
      id: c.ID,
      name: c.Spec?.Name ?? '',
      labels: c.Spec?.Labels ?? {},
    })),
    secrets: secrets.map((s) => ({
      id: s.ID,
      name: s.Spec?.Name ?? '',
      labels: s.Spec?.Labels ?? {},
    })),
    services: services.map((s) => liveService(s, networkNames)),
    nodes: nodes.map((n) => ({
      id: n.ID,
      hostname: n.Description?.Hostname ?? '',
      ready: n.Status?.State === 'ready' && n.Spec?.Availability === 'active',
      manager: n.Spec?.Role === 'manager',
      labels: n.Spec?.Labels ?? {},
    })),
  };
}

function liveService(s: Docker.Service, networkNames: Map<string, string>): LiveService {
  const spec = s.Spec ?? {};
  const task = (spec.TaskTemplate ?? {}) as Docker.ContainerTaskSpec;
  const c = task.ContainerSpec ?? {};
  const labels = spec.Labels ?? {};
  const shape: ServiceShape = {
    image: c.Image ?? '',
    replicas: spec.Mode?.Replicated?.Replicas ?? 0,
    command: c.Command ?? [],
    args: c.Args ?? [],
    env: c.Env ?? [],
    hostname: c.Hostname ?? '',
    mounts: (c.Mounts ?? []).map((m): MountSpec => ({
      type: (m.Type as MountSpec['type']) ?? 'volume',
      source: m.Source ?? '',
      target: m.Target,
      readOnly: m.ReadOnly ?? false,
    })),
    configs: (c.Configs ?? []).map((r): FileRef => ({
      name: r.ConfigName ?? '',
      target: r.File?.Name ?? '',
    })),
    secrets: (c.Secrets ?? []).map((r): FileRef => ({
      name: r.SecretName ?? '',
      target: r.File?.Name ?? '',
    })),
    networks: (task.Networks ?? spec.Networks ?? []).map(
      (n) => networkNames.get(n.Target ?? '') ?? n.Target ?? '',
    ),
    ports: (spec.EndpointSpec?.Ports ?? []).map((p): PortSpec => ({
      target: p.TargetPort ?? 0,
      published: p.PublishedPort ?? 0,
      protocol: (p.Protocol as PortSpec['protocol']) ?? 'tcp',
      mode: p.PublishMode ?? 'ingress',
    })),
    constraints: task.Placement?.Constraints ?? [],
    maxReplicasPerNode: task.Placement?.MaxReplicas ?? 0,
    labels: pgmeshLabels(labels),
    memoryLimitBytes: task.Resources?.Limits?.MemoryBytes ?? 0,
    dnsOptions: c.DNSConfig?.Options ?? [],
  };
  return {
    id: s.ID,
    name: spec.Name ?? '',
    version: s.Version?.Index ?? 0,
    role: labels[LABEL_ROLE] as ServiceRole | undefined,
    group: labels[LABEL_GROUP],
    shape,
    updateState: s.UpdateStatus?.State,
  };
}
