-- pgmesh engine, version 1: extensions, schemas and metadata tables (coordinator).
-- Applied by agent/engine/install.ts in one transaction; recorded in pgmesh.schema_version.

CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA IF NOT EXISTS pgmesh;
-- Coordinator-side foreign partitions live here, apart from user schemas.
CREATE SCHEMA IF NOT EXISTS pgmesh_part;

-- The planner hook (images/pgnode/ext). Declaring it here makes the install fail loudly
-- on a coordinator whose image lacks the module.
CREATE OR REPLACE FUNCTION pgmesh.router_version() RETURNS text
  LANGUAGE c STRICT AS '$libdir/pgmesh', 'pgmesh_router_version';

-- A worker group: one Patroni scope, reached through one postgres_fdw server whose host
-- list names every member (target_session_attrs=read-write follows the primary).
CREATE TABLE IF NOT EXISTS pgmesh.worker_groups (
  group_name  text PRIMARY KEY CHECK (group_name ~ '^[a-z][a-z0-9_]{0,39}$'),
  hosts       text[] NOT NULL CHECK (cardinality(hosts) > 0),
  port        int NOT NULL DEFAULT 5432 CHECK (port BETWEEN 1 AND 65535),
  dbname      text NOT NULL,
  server_name text NOT NULL UNIQUE,
  state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining')),
  added_at    timestamptz NOT NULL DEFAULT now()
);

-- Shards of co-located tables share shard count and placement.
CREATE TABLE IF NOT EXISTS pgmesh.colocation_groups (
  colocation_id serial PRIMARY KEY,
  shard_count   int NOT NULL CHECK (shard_count BETWEEN 1 AND 1024),
  dist_type     regtype NOT NULL
);

CREATE TABLE IF NOT EXISTS pgmesh.distributed_tables (
  relid         regclass PRIMARY KEY,
  dist_column   name NOT NULL,
  colocation_id int NOT NULL REFERENCES pgmesh.colocation_groups,
  -- Column and constraint list used to create a shard table on a worker.
  shard_ddl     text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per shard: PostgreSQL hash partition bounds (hash % modulus = remainder) and
-- the single placement (worker group) of the shard.
CREATE TABLE IF NOT EXISTS pgmesh.shards (
  shard_id     bigserial PRIMARY KEY,
  relid        regclass NOT NULL REFERENCES pgmesh.distributed_tables ON DELETE CASCADE,
  modulus      int NOT NULL,
  remainder    int NOT NULL,
  group_name   text NOT NULL REFERENCES pgmesh.worker_groups,
  shard_table  name NOT NULL,           -- pgmesh_shards.<shard_table> on the worker
  partition    name NOT NULL,           -- pgmesh_part.<partition> on the coordinator
  UNIQUE (relid, remainder)
);

CREATE TABLE IF NOT EXISTS pgmesh.reference_tables (
  relid      regclass PRIMARY KEY,
  shard_ddl  text NOT NULL,
  synced_at  timestamptz
);

-- Commands replayed on every shard (also on shards created later by a move), e.g. HNSW
-- indexes. %1$s = quoted qualified shard table, %2$s = bare shard table name.
CREATE TABLE IF NOT EXISTS pgmesh.shard_commands (
  relid    regclass NOT NULL REFERENCES pgmesh.distributed_tables ON DELETE CASCADE,
  seq      serial,
  command  text NOT NULL,
  PRIMARY KEY (relid, seq)
);

-- Journal of data moves: one row per shard move, with its state machine.
CREATE TABLE IF NOT EXISTS pgmesh.data_moves (
  move_id       bigserial PRIMARY KEY,
  colocation_id int NOT NULL,
  remainder     int NOT NULL,
  source_group  text NOT NULL,
  target_group  text NOT NULL,
  state         text NOT NULL CHECK (state IN ('started', 'copying', 'ready', 'switched', 'done', 'cleaned')),
  started_at    timestamptz NOT NULL DEFAULT now(),
  switched_at   timestamptz,
  finished_at   timestamptz,
  pause_ms      double precision,
  error         text
);
CREATE UNIQUE INDEX IF NOT EXISTS data_moves_one_active
  ON pgmesh.data_moves ((true)) WHERE state IN ('started', 'copying', 'ready', 'switched');

-- Journal of every metadata operation (distribute, add group, ...), for audit.
CREATE TABLE IF NOT EXISTS pgmesh.journal (
  id      bigserial PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  op      text NOT NULL,
  detail  jsonb NOT NULL DEFAULT '{}'
);
