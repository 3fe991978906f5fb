/**
 * Desired and live Swarm state as plain data, so that plan() is a pure function.
 * Services are described by a Docker ServiceSpec in which networks, configs and secrets
 * are referenced by *name*; apply resolves names to IDs at the moment it acts.
 */

export type ServiceRole =
  'etcd' | 'coordinator' | 'worker' | 'haproxy' | 'agent' | 'git' | 'watcher';

export const LABEL_MANAGED = 'pgmesh.managed';
export const LABEL_CLUSTER = 'pgmesh.cluster';
export const LABEL_ROLE = 'pgmesh.role';
export const LABEL_GROUP = 'pgmesh.group';
export const LABEL_LOGICAL = 'pgmesh.logical-name';

export type Labels = Record<string, string>;

export interface PortSpec {
  target: number;
  published: number;
  protocol: 'tcp' | 'udp';
  mode: 'host' | 'ingress';
}

export interface MountSpec {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Volume name; may hold Swarm templates such as {{.Task.Slot}}. */
  source: string;
  target: string;
  readOnly: boolean;
}

export interface FileRef {
  /** Config or secret name in Swarm. */
  name: string;
  /** Path inside the container (configs) or file name under /run/secrets (secrets). */
  target: string;
  mode?: number;
}

/** The part of a service that pgmesh owns and compares; everything else is Swarm's. */
export interface ServiceShape {
  image: string;
  replicas: number;
  command: string[];
  args: string[];
  env: string[];
  hostname: string;
  mounts: MountSpec[];
  configs: FileRef[];
  secrets: FileRef[];
  networks: string[];
  ports: PortSpec[];
  constraints: string[];
  /** Swarm Placement.MaxReplicas: 1 spreads members over nodes; 0 means no limit. */
  maxReplicasPerNode: number;
  labels: Labels;
  memoryLimitBytes: number;
  /**
   * resolv.conf options (Swarm DNSConfig.Options). Database members use one attempt of
   * 1 s: a member cut off the network must not spend Patroni's retry_timeout on DNS
   * lookups (docs/ha.md, "DNS timeouts").
   */
  dnsOptions: string[];
}

export interface DesiredService {
  name: string;
  role: ServiceRole;
  /** The group (Patroni scope) for database services; the member id for etcd. */
  group: string;
  shape: ServiceShape;
}

export interface DesiredConfig {
  name: string;
  /** Name without the content hash: what a service knows the file as. */
  logicalName: string;
  data: string;
  labels: Labels;
}

export interface DesiredSecret {
  name: string;
  labels: Labels;
  /** Secrets pgmesh generates itself (random, on first apply); never shown anywhere. */
  generate: { bytes: number };
}

export interface DesiredNetwork {
  name: string;
  labels: Labels;
}

export interface DesiredSwarm {
  cluster: string;
  networks: DesiredNetwork[];
  secrets: DesiredSecret[];
  configs: DesiredConfig[];
  services: DesiredService[];
  /** Groups that the manifest marks `remove: true`. */
  groupsToRemove: string[];
}

export interface LiveService {
  id: string;
  name: string;
  version: number;
  role: ServiceRole | undefined;
  group: string | undefined;
  shape: ServiceShape;
  /** Swarm's UpdateStatus.State, if an update ran. */
  updateState: string | undefined;
}

export interface LiveSwarm {
  /** When this state was read (ISO time): part of the idempotency key of a create. */
  observedAt: string;
  networks: Array<{ id: string; name: string; labels: Labels }>;
  configs: Array<{ id: string; name: string; labels: Labels }>;
  secrets: Array<{ id: string; name: string; labels: Labels }>;
  services: LiveService[];
  nodes: Array<{ id: string; hostname: string; ready: boolean; manager?: boolean; labels: Labels }>;
  /** Shards the engine places on each worker group; absent when not observed. */
  groupShards?: GroupShards;
}

/**
 * Shards per worker group (Cluster manifest names), read from the engine: a group marked
 * `remove: true` keeps its services until it holds none. Unknown means keep them.
 */
export type GroupShards =
  { known: true; counts: Record<string, number> } | { known: false; reason: string };

export interface FieldChange {
  field: keyof ServiceShape;
  desired: unknown;
  live: unknown;
}

export type SwarmAction =
  | { kind: 'create-network'; name: string; network: DesiredNetwork }
  | { kind: 'create-secret'; name: string; secret: DesiredSecret }
  | { kind: 'create-config'; name: string; config: DesiredConfig }
  | { kind: 'create-service'; name: string; service: DesiredService }
  | {
      kind: 'update-service';
      name: string;
      service: DesiredService;
      changes: FieldChange[];
    }
  | { kind: 'remove-service'; name: string; reason: string }
  | { kind: 'remove-config'; name: string; reason: string };

export interface Refusal {
  resource: string;
  reason: string;
}

export interface SwarmPlan {
  actions: SwarmAction[];
  /** Changes the plan will not make; any refusal blocks the whole apply. */
  refusals: Refusal[];
  /** Services kept for now, with why (a group marked for removal still holds shards). */
  waiting?: Array<{ resource: string; reason: string }>;
}
