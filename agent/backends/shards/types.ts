/**
 * Desired and live state of the sharding engine as plain data, so that plan() is pure.
 * Tables are named `schema.table`; worker groups by their engine name (the Cluster
 * manifest's group name with '-' turned into '_', see engineGroupName).
 */
import type { ClientBase } from 'pg';
import type { ColumnSpec, RolePreset, VectorOpclass } from '../../manifests/types.js';
import type { DriftItem, DriftProgress } from '../types.js';

/** A drift item before the backend name is added. */
export type DriftLike = Omit<DriftItem, 'backend'>;

export interface DesiredGroup {
  /** Engine name (`pgmesh.worker_groups.group_name`). */
  name: string;
  /** Name in the Cluster manifest. */
  manifestName: string;
  hosts: string[];
  port: number;
  dbname: string;
  /** Marked `remove: true`: drain, then unregister once empty. */
  remove: boolean;
}

export interface DesiredTable {
  kind: 'distributed' | 'reference';
  /** `schema.table`. */
  name: string;
  schema: string;
  table: string;
  columns: ColumnSpec[];
  primaryKey: string[];
  /** Distributed tables only. */
  distributionColumn?: string;
  shardCount?: number;
  /** `schema.table` of the table this one is co-located with. */
  colocateWith?: string;
}

export interface DesiredVectorIndex {
  /** The VectorIndex document's name. */
  manifestName: string;
  table: string;
  column: string;
  opclass: VectorOpclass;
  m: number;
  efConstruction: number;
}

/** A Role's preset, or the privileges an McpClient's roles get (agent/mcp). */
export type RolePrivilegePreset = RolePreset | 'mcp-client' | 'mcp-sql';

export interface DesiredRole {
  name: string;
  preset: RolePrivilegePreset;
  passwordSecret: string;
  /** MCP client roles: privileges on the tables of schema `memory` (none elsewhere). */
  memoryPrivileges?: string[];
}

/** An MCP client role and its namespaces, enforced by row-level security (015_mcp.sql). */
export interface DesiredMcpClient {
  role: string;
  read: string[];
  write: string[];
  /** Set on the role's user mappings to the worker groups. */
  passwordSecret: string;
}

export interface DesiredShards {
  /** Highest engine migration this agent ships (agent/engine/install.ts). */
  engineVersion: number;
  groups: DesiredGroup[];
  tables: DesiredTable[];
  vectorIndexes: DesiredVectorIndex[];
  roles: DesiredRole[];
  /** Sorted by role; empty without McpClient documents. */
  mcpClients: DesiredMcpClient[];
  /** `schema.table` of the tables the MCP policies go on (schema `memory`, by namespace). */
  mcpTables: string[];
}

export interface LiveGroup {
  name: string;
  hosts: string[];
  port: number;
  dbname: string;
  state: 'active' | 'draining';
  /** False when the coordinator could not reach the group to read its shards' indexes. */
  reachable: boolean;
  error?: string;
  /** Tables in the group's `pgmesh_shards` schema; unknown when unreachable. */
  tables?: string[];
  /** Roles on the group's primary; unknown when unreachable or unreadable. */
  roles?: LiveGroupRole[];
  /** Why the roles could not be read (e.g. the agent's user may not read pg_authid). */
  rolesError?: string;
}

/** A role as found on a worker group's primary. */
export interface LiveGroupRole {
  name: string;
  canLogin: boolean;
  createRole: boolean;
  /**
   * Whether the stored SCRAM verifier is the coordinator's (compared inside the
   * coordinator, so no verifier reaches the agent); null: could not tell.
   */
  sameVerifier: boolean | null;
  /** Shard table (in `pgmesh_shards`) → privileges, sorted. */
  tablePrivileges: Record<string, string[]>;
  /** Privileges on schema `pgmesh_shards`, sorted. */
  schemaPrivileges: string[];
}

export interface LiveColumn {
  name: string;
  /** PostgreSQL's format_type(): `timestamp with time zone`, `vector(384)`, ... */
  type: string;
  notNull: boolean;
}

export interface LiveTable {
  name: string;
  kind: 'distributed' | 'reference' | 'plain';
  columns: LiveColumn[];
  distributionColumn?: string;
  colocationId?: number;
  shardCount?: number;
}

export interface LiveShard {
  table: string;
  colocationId: number;
  remainder: number;
  group: string;
  shardTable: string;
  /** Size of the shard table with its indexes; 0 when the group was unreachable. */
  bytes: number;
  /** The coordinator's foreign partition (`pgmesh_part.<partition>`). */
  partition?: string;
  /** The partition's pg_class.reltuples on the coordinator: -1 when never analyzed. */
  analyzedRows?: number;
  /** Live rows of the shard table on its worker (n_live_tup); null when unknown. */
  rows?: number | null;
}

export interface LiveIndex {
  group: string;
  shardTable: string;
  name: string;
  valid: boolean;
  method: string;
  column: string | null;
  opclass: string | null;
  /** HNSW parameters from reloptions, pgvector's defaults (16, 64) when not set. */
  m: number | null;
  efConstruction: number | null;
}

export interface LiveMove {
  moveId: number;
  colocationId: number;
  remainder: number;
  source: string;
  target: string;
  state: string;
}

export interface LiveShardCommand {
  table: string;
  command: string;
}

export interface LiveRole {
  name: string;
  canLogin: boolean;
  createRole: boolean;
  /** The secret pgmesh last set the password from (recorded in the role's comment). */
  passwordSecret: string | null;
  /** Whether the stored verifier matches that secret's current file; null: could not tell. */
  passwordInSync: boolean | null;
  /** `schema.table` → privileges (`SELECT`, ...), sorted. */
  tablePrivileges: Record<string, string[]>;
  /** schema → privileges (`USAGE`, `CREATE`), sorted. */
  schemaPrivileges: Record<string, string[]>;
}

/** What the engine holds of the MCP clients (absent before engine version 15). */
export interface LiveMcp {
  /** pgmesh.mcp_clients: what the last sync applied. */
  clients: Array<{ role: string; read: string[]; write: string[]; tables: string[] }>;
  /** pgmesh.mcp_policy_problems(): tables whose RLS or policies are not as synced. */
  problems: Array<{ location: string; table: string; problem: string }>;
  /** Role → servers (`pgmesh_<group>`) it has a user mapping to. */
  mappings: Record<string, string[]>;
}

export interface LiveShards {
  /** Highest applied engine migration; 0 when the engine is not installed. */
  engineVersion: number;
  groups: LiveGroup[];
  tables: LiveTable[];
  shards: LiveShard[];
  indexes: LiveIndex[];
  /** Moves that started and have not finished (journal states before 'done'). */
  moves: LiveMove[];
  shardCommands: LiveShardCommand[];
  roles: LiveRole[];
  mcp?: LiveMcp | null;
  /** The last run of shard moves as the agent recorded it (progress.ts); absent if none. */
  rebalance?: DriftProgress | null;
  /** Prepared two-phase-commit transactions on the groups (engine v10); absent before. */
  inDoubt?: LiveInDoubt[];
}

/** A prepared transaction of the engine's two-phase commit (pgmesh.in_doubt_xacts()). */
export interface LiveInDoubt {
  group: string;
  gid: string;
  /** What recovery does with it: 'pending' means its coordinator transaction still runs. */
  decision: 'commit' | 'rollback' | 'pending';
  /** Seconds since it was prepared. */
  ageSeconds: number;
}

/** One shard's part of an index build: what to drop first, build, then drop. */
export interface IndexShardStep {
  shardTable: string;
  /** INVALID indexes (left by a failed build): dropped before the build. */
  dropBefore: string[];
  build: boolean;
  /** Indexes the new one replaces: dropped once it is valid. */
  dropAfter: string[];
}

export type ShardsAction =
  | { kind: 'install-engine'; from: number; to: number }
  | {
      kind: 'sync-mcp-policies';
      clients: Array<{ role: string; read: string[]; write: string[] }>;
      tables: string[];
      reason: 'clients' | 'tables' | 'policies';
    }
  | {
      kind: 'ensure-mcp-mapping';
      role: string;
      passwordSecret: string;
      /** Servers without a mapping for the role (all of them when the password changes). */
      servers: string[];
      reason: 'missing' | 'password';
    }
  | {
      kind: 'register-group' | 'update-group';
      group: string;
      hosts: string[];
      port: number;
      dbname: string;
    }
  | { kind: 'drain-group'; group: string }
  | {
      kind: 'recover-prepared';
      /** Prepared transactions recovery resolves (commit or rollback), for the report. */
      transactions: Array<{ group: string; gid: string; decision: 'commit' | 'rollback' }>;
    }
  | { kind: 'remove-group'; group: string }
  | { kind: 'create-distributed-table'; table: DesiredTable }
  | { kind: 'create-reference-table'; table: DesiredTable }
  | {
      kind: 'build-index';
      index: DesiredVectorIndex;
      /** Index name suffix; the shard's index is `<shard table>_<suffix>`. */
      suffix: string;
      /** The engine command template (`%1$s` quoted shard, `%2$s` bare shard name). */
      template: string;
      /** Per shard; empty for a table created in the same plan: every shard, build only. */
      shards: IndexShardStep[];
      reason: 'missing' | 'parameters' | 'invalid' | 'commands';
    }
  | { kind: 'resume-move'; moveId: number; table: string; remainder: number; target: string }
  | {
      kind: 'move-shard';
      colocationId: number;
      /** Any table of the co-location group: the engine moves them all. */
      table: string;
      remainder: number;
      source: string;
      target: string;
      /** Shard tables moved together (one per co-located table). */
      shards: number;
      bytes: number;
      /** Position in this plan's moves, from 1, and their count and bytes. */
      step: number;
      steps: number;
      bytesBefore: number;
      bytesTotal: number;
    }
  | {
      kind: 'analyze';
      table: string;
      /** Foreign partitions to analyze, with what was found (part of the action's key). */
      partitions: Array<{ partition: string; analyzedRows: number; rows: number | null }>;
      reason: 'never-analyzed' | 'changed';
    }
  | {
      kind: 'ensure-group-role';
      group: string;
      role: string;
      preset: RolePrivilegePreset;
      create: boolean;
      /** Copy the coordinator's SCRAM verifier (read and quoted inside the coordinator). */
      setPassword: boolean;
      createRole: boolean;
      /** Shard table (in `pgmesh_shards`) → privileges; applied exactly. */
      tablePrivileges: Record<string, string[]>;
      /** Privileges on schema `pgmesh_shards`. */
      schemaPrivileges: string[];
      changes: string[];
    }
  | {
      kind: 'ensure-role';
      role: string;
      preset: RolePrivilegePreset;
      create: boolean;
      setPassword: boolean;
      passwordSecret: string;
      /** `schema.table` → privileges; applied exactly (others revoked). */
      tablePrivileges: Record<string, string[]>;
      schemaPrivileges: Record<string, string[]>;
      createRole: boolean;
      changes: string[];
    };

/** Progress of long actions, for logs, the CLI and the drift report. */
export interface ShardsProgress {
  action: 'move-shard' | 'build-index';
  /** `table/remainder` for a move, `table.column` for an index. */
  resource: string;
  step: string;
  /** Moves: shard tables moved / to move in this plan. Indexes: shards done / total. */
  done: number;
  total: number;
  bytesDone?: number;
  bytesTotal?: number;
  /** Estimated time left for the plan's moves, from the rate measured so far. */
  etaMs?: number;
}

/** A connection to the coordinator group's primary, and how to give it back. */
export interface CoordinatorSession {
  client: ClientBase;
  release(): Promise<void>;
}

/**
 * What the shards backend needs of the world. The lead wires it to the Swarm cluster:
 * `connect` opens the coordinator through HAProxy's read-write port (or
 * `tasks.<cluster>-<coord>` with target_session_attrs=read-write); `groupHosts` maps a
 * worker group of the Cluster manifest to the libpq host list the coordinator uses to
 * reach it (`tasks.<cluster>-<group>` there; container names in tests).
 */
export interface ShardsContext {
  connect(): Promise<CoordinatorSession>;
  /** Manifest group name → host names the coordinator reaches the group's members at. */
  groupHosts(group: string): string[];
  /** Port and database of the worker groups (the Cluster's `postgres.database`). */
  workerPort?: number;
  /**
   * A group's own port, by its place in the manifest's workerGroups, when groups are
   * reached on different ports of one host (HAProxy's per-group routes); else workerPort.
   */
  groupPort?(group: string, index: number): number;
  workerDatabase: string;
  /** User of the coordinator's user mapping to the workers; default: the agent's user. */
  workerUser?: string;
  /** File holding that user's password (a Swarm secret); never logged. */
  workerPasswordFile?: string;
  /** Swarm secret name → file; default `/run/secrets/<name>`. */
  secretFile?(name: string): string;
  /** How often a move polls its copy, and how long it may take. */
  movePollMs?: number;
  moveCopyTimeoutMs?: number;
  onProgress?(progress: ShardsProgress): void;
  /** The clock, for ETAs (tests pass their own). */
  now?(): number;
}

export interface ShardsRefusal {
  resource: string;
  reason: string;
}
