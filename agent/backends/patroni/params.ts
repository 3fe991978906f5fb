/**
 * The PostgreSQL parameters a PatroniConfig may set, with their type and what a change
 * needs. This table is the one source: schemas/patroni-config.schema.json holds the same
 * list (params.test.ts checks the two agree), and the planner reads `restart` and
 * `replicaAtLeast` from here.
 *
 * Left out on purpose: what Patroni owns (listen_addresses, port, cluster_name,
 * hot_standby, data_directory, hba_file, ...), and what would break pgmesh (wal_level
 * below logical, wal_log_hints off, which pg_rewind needs).
 */

export type ParamType =
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'real'; min: number; max: number }
  /** A string with a memory unit (`64MB`). */
  | { kind: 'memory' }
  /** A string with a time unit (`30s`). */
  | { kind: 'duration' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'string'; pattern: string; reason: string };

export interface ParamSpec {
  type: ParamType;
  /** `postmaster` context: a change takes effect only after a restart. */
  restart: boolean;
  /**
   * A hot standby must run with at least the primary's value (PostgreSQL refuses or
   * pauses recovery otherwise): increases go to replicas first, decreases to the primary
   * first.
   */
  replicaAtLeast?: boolean;
}

const int = (min: number, max: number): ParamType => ({ kind: 'integer', min, max });
const mem: ParamType = { kind: 'memory' };
const dur: ParamType = { kind: 'duration' };
const bool: ParamType = { kind: 'boolean' };
const oneOf = (...values: string[]): ParamType => ({ kind: 'enum', values });

export const PARAMETERS: Readonly<Record<string, ParamSpec>> = {
  // Restart, and a standby must have at least the primary's value.
  max_connections: { type: int(10, 10000), restart: true, replicaAtLeast: true },
  max_worker_processes: { type: int(1, 1024), restart: true, replicaAtLeast: true },
  max_wal_senders: { type: int(2, 1024), restart: true, replicaAtLeast: true },
  max_prepared_transactions: { type: int(0, 10000), restart: true, replicaAtLeast: true },
  max_locks_per_transaction: { type: int(10, 100000), restart: true, replicaAtLeast: true },
  // Restart only.
  shared_buffers: { type: mem, restart: true },
  max_replication_slots: { type: int(2, 1024), restart: true },
  max_logical_replication_workers: { type: int(0, 1024), restart: true },
  max_pred_locks_per_transaction: { type: int(10, 100000), restart: true },
  autovacuum_max_workers: { type: int(1, 64), restart: true },
  superuser_reserved_connections: { type: int(0, 100), restart: true },
  wal_buffers: { type: mem, restart: true },
  huge_pages: { type: oneOf('on', 'off', 'try'), restart: true },
  track_commit_timestamp: { type: bool, restart: true },
  wal_level: { type: oneOf('logical'), restart: true },
  shared_preload_libraries: {
    type: {
      kind: 'string',
      pattern: '^[a-z_][a-z0-9_]*(,\\s*[a-z_][a-z0-9_]*)*$',
      reason: 'must be a comma-separated list of library names (letters, digits, _)',
    },
    restart: true,
  },
  // A reload is enough.
  work_mem: { type: mem, restart: false },
  maintenance_work_mem: { type: mem, restart: false },
  effective_cache_size: { type: mem, restart: false },
  temp_buffers: { type: mem, restart: false },
  wal_keep_size: { type: mem, restart: false },
  max_wal_size: { type: mem, restart: false },
  min_wal_size: { type: mem, restart: false },
  max_slot_wal_keep_size: { type: mem, restart: false },
  checkpoint_timeout: { type: dur, restart: false },
  checkpoint_completion_target: { type: { kind: 'real', min: 0, max: 1 }, restart: false },
  wal_compression: { type: oneOf('on', 'off', 'pglz', 'lz4', 'zstd'), restart: false },
  synchronous_commit: {
    type: oneOf('on', 'off', 'local', 'remote_write', 'remote_apply'),
    restart: false,
  },
  max_parallel_workers: { type: int(0, 1024), restart: false },
  max_parallel_workers_per_gather: { type: int(0, 1024), restart: false },
  max_parallel_maintenance_workers: { type: int(0, 1024), restart: false },
  random_page_cost: { type: { kind: 'real', min: 0, max: 1000 }, restart: false },
  effective_io_concurrency: { type: int(0, 1000), restart: false },
  default_statistics_target: { type: int(1, 10000), restart: false },
  statement_timeout: { type: dur, restart: false },
  lock_timeout: { type: dur, restart: false },
  idle_in_transaction_session_timeout: { type: dur, restart: false },
  log_min_duration_statement: { type: dur, restart: false },
  log_statement: { type: oneOf('none', 'ddl', 'mod', 'all'), restart: false },
  log_connections: { type: bool, restart: false },
  log_disconnections: { type: bool, restart: false },
  log_lock_waits: { type: bool, restart: false },
  track_io_timing: { type: bool, restart: false },
  hot_standby_feedback: { type: bool, restart: false },
  max_standby_streaming_delay: { type: dur, restart: false },
  autovacuum: { type: bool, restart: false },
  autovacuum_naptime: { type: dur, restart: false },
  jit: { type: bool, restart: false },
  password_encryption: { type: oneOf('scram-sha-256', 'md5'), restart: false },
  // pgvector (every member preloads nothing for it; these are plain user settings).
  'hnsw.ef_search': { type: int(1, 1000), restart: false },
  'hnsw.iterative_scan': { type: oneOf('off', 'relaxed_order', 'strict_order'), restart: false },
};

export function paramSpec(name: string): ParamSpec | undefined {
  return Object.prototype.hasOwnProperty.call(PARAMETERS, name) ? PARAMETERS[name] : undefined;
}

const MEMORY_UNITS: Record<string, number> = { kb: 1, mb: 1024, gb: 1024 ** 2, tb: 1024 ** 3 };
const TIME_UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A canonical text for comparing a desired value with what Patroni's DCS holds (which may
 * be a number, a string, or a YAML boolean): `128MB` and `131072kB` are equal, `on` and
 * `true` are equal. Values in a bare base unit are compared as written.
 */
export function canonicalValue(name: string, value: unknown): string {
  const spec = paramSpec(name);
  const text = typeof value === 'string' ? value.trim() : String(value);
  if (!spec) return text;
  switch (spec.type.kind) {
    case 'boolean': {
      const t = text.toLowerCase();
      if (['on', 'true', 'yes', '1'].includes(t)) return 'on';
      if (['off', 'false', 'no', '0'].includes(t)) return 'off';
      return t;
    }
    case 'enum':
      return text.toLowerCase();
    case 'memory': {
      const m = /^(\d+)\s*(kB|MB|GB|TB)$/i.exec(text);
      return m ? `${Number(m[1]) * (MEMORY_UNITS[(m[2] ?? '').toLowerCase()] ?? 1)}kB` : text;
    }
    case 'duration': {
      const m = /^(\d+)\s*(us|ms|s|min|h|d)$/.exec(text);
      return m ? `${Number(m[1]) * (TIME_UNITS[m[2] ?? ''] ?? 1)}ms` : text;
    }
    case 'integer':
    case 'real':
      return Number.isFinite(Number(text)) ? String(Number(text)) : text;
    case 'string':
      return text.replace(/\s*,\s*/g, ',');
  }
}

/** The JSON Schema of one parameter's value (what schemas/patroni-config.schema.json holds). */
export function parameterSchema(name: string, spec: ParamSpec): Record<string, unknown> {
  const what = spec.replicaAtLeast
    ? 'Needs a restart; a replica must run with at least the primary\u2019s value.'
    : spec.restart
      ? 'Needs a restart.'
      : 'Applied by a reload.';
  const description = `PostgreSQL \`${name}\`. ${what}`;
  const t = spec.type;
  switch (t.kind) {
    case 'integer':
      return { description, type: 'integer', minimum: t.min, maximum: t.max };
    case 'real':
      return { description, type: 'number', minimum: t.min, maximum: t.max };
    // No union types: the validator runs ajv in strict mode. A size or a duration is a
    // string with its unit, which also keeps the unit visible to whoever reads the file.
    case 'memory':
      return {
        description,
        type: 'string',
        pattern: '^[0-9]+(kB|MB|GB|TB)$',
        patternReason: 'must be a size with its unit, such as 64MB (kB, MB, GB, TB)',
      };
    case 'duration':
      return {
        description,
        type: 'string',
        pattern: '^[0-9]+(us|ms|s|min|h|d)$',
        patternReason: 'must be a duration with its unit, such as 30s (us, ms, s, min, h, d)',
      };
    case 'boolean':
      return { description, type: 'boolean' };
    case 'enum':
      return { description, type: 'string', enum: [...t.values] };
    case 'string':
      return { description, type: 'string', pattern: t.pattern, patternReason: t.reason };
  }
}
