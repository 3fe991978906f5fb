/**
 * Shapes of the manifest kinds, as they are after validation against schemas/ and after
 * defaults are filled in. Validation happens once, at the boundary (load.ts).
 */

export const API_VERSION = 'pgmesh.io/v1';

export interface Metadata {
  name: string;
}

export interface Placement {
  /** Swarm placement constraints, e.g. `node.labels.pgmesh.db == true`. */
  constraints: string[];
  /** Place the members of one group on different nodes when the swarm has enough nodes. */
  spreadMembers: boolean;
}

export interface GroupSpec {
  name: string;
  members: number;
  /** Synchronous replication inside the group (Patroni synchronous_mode). */
  synchronousMode: boolean;
  /** Explicit mark: this group's services are to be removed. */
  remove: boolean;
  placement: Placement;
}

export interface ClusterSpec {
  images: { pgnode?: string; etcd?: string; haproxy?: string; agent?: string };
  etcd: { members: 1 | 3 | 5; placement: Placement };
  coordinator: GroupSpec;
  workerGroups: GroupSpec[];
  haproxy: {
    ports: { readWrite: number; readOnly: number; stats: number };
    placement: Placement;
  };
  pgbouncer: { poolMode: 'transaction' | 'session'; defaultPoolSize: number; maxClientConn: number };
  postgres: {
    database: string;
    maxConnections: number;
    sharedBuffers: string;
  };
  patroni: { ttl: number; loopWait: number; retryTimeout: number; fencedFailover: boolean };
  agent: {
    replicas: number;
    port: number;
    pollIntervalSeconds: number;
    leaderTtlSeconds: number;
    repository: { url: string; branch: string; path: string };
  };
}

export interface ClusterManifest {
  apiVersion: typeof API_VERSION;
  kind: 'Cluster';
  metadata: Metadata;
  spec: ClusterSpec;
}

/** A column of a DistributedTable or ReferenceTable: structured, never free SQL. */
export interface ColumnSpec {
  name: string;
  /** One of the types the schema's pattern allows (e.g. `text`, `vector(384)`). */
  type: string;
  notNull: boolean;
  defaultValue?: string;
  defaultFunction?: 'now()' | 'gen_random_uuid()';
}

export interface DistributedTableManifest {
  apiVersion: typeof API_VERSION;
  kind: 'DistributedTable';
  metadata: Metadata;
  spec: {
    schema: string;
    table: string;
    distributionColumn: string;
    shardCount: number;
    /** `table` (same schema) or `schema.table` of another DistributedTable. */
    colocateWith?: string;
    columns: ColumnSpec[];
    primaryKey: string[];
  };
}

export interface ReferenceTableManifest {
  apiVersion: typeof API_VERSION;
  kind: 'ReferenceTable';
  metadata: Metadata;
  spec: { schema: string; table: string; columns: ColumnSpec[]; primaryKey: string[] };
}

export type VectorOpclass = 'vector_cosine_ops' | 'vector_l2_ops' | 'vector_ip_ops';

export interface VectorIndexManifest {
  apiVersion: typeof API_VERSION;
  kind: 'VectorIndex';
  metadata: Metadata;
  spec: {
    schema: string;
    table: string;
    column: string;
    method: 'hnsw';
    opclass: VectorOpclass;
    m: number;
    efConstruction: number;
  };
}

export type RolePreset = 'admin' | 'app' | 'readonly' | 'mcp';

export interface RoleManifest {
  apiVersion: typeof API_VERSION;
  kind: 'Role';
  metadata: Metadata;
  /** `passwordSecret` names a Swarm secret; the password itself is never in a manifest. */
  spec: { name: string; preset: RolePreset; passwordSecret: string };
}

/** One AI agent of `pgmesh mcp`: its role, namespaces, secrets and limits. */
export interface McpClientManifest {
  apiVersion: typeof API_VERSION;
  kind: 'McpClient';
  metadata: Metadata;
  spec: {
    role: string;
    passwordSecret: string;
    tokenSecret: string;
    namespaces: { read: string[]; write: string[] };
    allow: { update: boolean; delete: boolean; sql: boolean };
    limits: McpLimits;
  };
}

export interface McpLimits {
  callsPerSecond: number;
  burst: number;
  maxContentBytes: number;
  maxMetadataBytes: number;
  maxResults: number;
  sqlTimeoutMs: number;
}

/** A PostgreSQL parameter value as a PatroniConfig may write it (see schemas/). */
export type PatroniParameterValue = string | number | boolean;

/**
 * Patroni's dynamic configuration of one scope (Patroni's own field names). Only fields
 * written in the manifest are managed; no defaults are filled in.
 */
export interface PatroniConfigManifest {
  apiVersion: typeof API_VERSION;
  kind: 'PatroniConfig';
  metadata: Metadata;
  spec: {
    scope: string;
    ttl?: number;
    loop_wait?: number;
    retry_timeout?: number;
    synchronous_mode?: boolean;
    maximum_lag_on_failover?: number;
    postgresql?: { parameters?: Record<string, PatroniParameterValue> };
  };
}

/** Every manifest kind pgmesh knows; later kinds join this union. */
export type Manifest =
  | ClusterManifest
  | DistributedTableManifest
  | ReferenceTableManifest
  | VectorIndexManifest
  | RoleManifest
  | PatroniConfigManifest
  | McpClientManifest;

/** A loaded, validated, frozen manifest set with where each document came from. */
export interface ManifestSet {
  /** Folder the set was read from. */
  root: string;
  /** sha256 over the files' paths and contents, so a cycle can name what it acted on. */
  digest: string;
  cluster: ClusterManifest;
  /** Every document, in file order, with its file (relative to root). */
  documents: ReadonlyArray<{ file: string; index: number; manifest: Manifest }>;
}
