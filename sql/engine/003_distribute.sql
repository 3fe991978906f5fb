-- pgmesh engine, version 3: distributed and reference tables, commands on every shard.

-- Column/constraint list of a local table for creating its shards on workers. Types
-- and constraint texts come from the catalog (format_type, pg_get_constraintdef);
-- names are validated identifiers, quoted anyway.
CREATE OR REPLACE FUNCTION pgmesh._shard_ddl(p_tbl regclass) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg(def, ', ' ORDER BY ord) FROM (
    SELECT a.attnum AS ord,
           format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END) AS def
      FROM pg_attribute a
     WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 10000 + row_number() OVER (ORDER BY c.conname), pg_get_constraintdef(c.oid)
      FROM pg_constraint c
     WHERE c.conrelid = p_tbl AND c.contype IN ('p', 'u', 'c')
  ) d
$$;

CREATE OR REPLACE FUNCTION pgmesh._shard_name(p_tbl regclass, p_remainder int) RETURNS name
LANGUAGE sql STABLE AS $$
  SELECT (left(n.nspname || '_' || c.relname, 50) || '_' || p_remainder)::name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_tbl
$$;

-- Every check of create_distributed_table, before anything changes.
CREATE OR REPLACE FUNCTION pgmesh._validate_distribute(
  p_tbl regclass, p_col text, p_shard_count int, p_colocate_with regclass)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  rel record;
  att record;
  co record;
  n int;
BEGIN
  SELECT c.relname, n.nspname, c.relkind INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_tbl;
  PERFORM pgmesh._check_ident('schema', rel.nspname);
  PERFORM pgmesh._check_ident('table', rel.relname);
  IF rel.relkind <> 'r' THEN
    RAISE EXCEPTION 'pgmesh: % is not a plain table (already distributed or partitioned?)', p_tbl
      USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pgmesh.reference_tables WHERE relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is a reference table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF p_shard_count IS NULL OR p_shard_count < 1 OR p_shard_count > 1024 THEN
    RAISE EXCEPTION 'pgmesh: shard count must be between 1 and 1024, got %', coalesce(p_shard_count::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pgmesh._check_ident('column', p_col);
  SELECT a.attname, a.atttypid INTO att FROM pg_attribute a
   WHERE a.attrelid = p_tbl AND a.attname = p_col AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: column % of % does not exist', quote_ident(p_col), p_tbl
      USING ERRCODE = 'undefined_column';
  END IF;
  FOR att IN SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped LOOP
    PERFORM pgmesh._check_ident('column', att.attname);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND attidentity <> '') THEN
    RAISE EXCEPTION 'pgmesh: % has an identity column; use a default (e.g. gen_random_uuid()) instead', p_tbl
      USING ERRCODE = 'feature_not_supported';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE (conrelid = p_tbl OR confrelid = p_tbl) AND contype = 'f') THEN
    RAISE EXCEPTION 'pgmesh: % has or is referenced by a foreign key; not supported on distributed tables', p_tbl
      USING ERRCODE = 'feature_not_supported';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint c
              WHERE c.conrelid = p_tbl AND c.contype IN ('p', 'u')
                AND NOT (SELECT attnum FROM pg_attribute WHERE attrelid = p_tbl AND attname = p_col) = ANY (c.conkey)) THEN
    RAISE EXCEPTION 'pgmesh: every primary key / unique constraint of % must include the distribution column %', p_tbl, quote_ident(p_col)
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF p_colocate_with IS NOT NULL THEN
    SELECT d.dist_column, cg.shard_count, cg.dist_type INTO co
      FROM pgmesh.distributed_tables d JOIN pgmesh.colocation_groups cg USING (colocation_id)
     WHERE d.relid = p_colocate_with;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'pgmesh: colocate_with % is not a distributed table', p_colocate_with
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF co.shard_count <> p_shard_count THEN
      RAISE EXCEPTION 'pgmesh: cannot co-locate % (% shards) with % (% shards)', p_tbl, p_shard_count, p_colocate_with, co.shard_count
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF co.dist_type <> (SELECT atttypid FROM pg_attribute WHERE attrelid = p_tbl AND attname = p_col) THEN
      RAISE EXCEPTION 'pgmesh: cannot co-locate %: distribution column type differs from %', p_tbl, p_colocate_with
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END IF;
  SELECT count(*) INTO n FROM pgmesh.worker_groups WHERE state = 'active';
  IF n = 0 THEN
    RAISE EXCEPTION 'pgmesh: no active worker group; add one with pgmesh.add_worker_group'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
END $$;

-- Creates the foreign partition for one shard on the coordinator.
CREATE OR REPLACE FUNCTION pgmesh._attach_shard(p_tbl regclass, p_modulus int, p_remainder int, p_group text, p_name name)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'CREATE FOREIGN TABLE pgmesh_part.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s) '
    'SERVER %I OPTIONS (schema_name %L, table_name %L)',
    p_name, p_tbl, p_modulus, p_remainder, pgmesh._server(p_group), 'pgmesh_shards', p_name);
END $$;

-- Turns a plain table into a distributed one: a hash-partitioned parent with the same
-- name whose partitions are foreign tables on the worker groups; existing rows move to
-- the shards. Bad input raises before anything changes; a failure afterwards drops the
-- shard tables it created on the workers (the coordinator side rolls back).
CREATE OR REPLACE FUNCTION pgmesh.create_distributed_table(
  p_tbl regclass, p_col text, p_shard_count int DEFAULT 32, p_colocate_with regclass DEFAULT NULL)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  rel record;
  ddl text;
  coloc int;
  groups text[];
  grp text;
  tmpname text;
  newtbl regclass;
  shard name;
  cols text;
  seq record;
  created text[] := '{}';   -- group/shard pairs created on workers, for cleanup
  r int;
BEGIN
  IF EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is already distributed', p_tbl USING ERRCODE = 'duplicate_object';
  END IF;
  IF p_colocate_with IS NOT NULL AND p_shard_count IS NULL THEN
    SELECT cg.shard_count INTO p_shard_count FROM pgmesh.distributed_tables d
      JOIN pgmesh.colocation_groups cg USING (colocation_id) WHERE d.relid = p_colocate_with;
  END IF;
  PERFORM pgmesh._validate_distribute(p_tbl, p_col, p_shard_count, p_colocate_with);
  SELECT c.relname, n.nspname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_tbl;
  ddl := pgmesh._shard_ddl(p_tbl);
  SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND NOT attisdropped AND attgenerated = '';

  IF p_colocate_with IS NOT NULL THEN
    SELECT colocation_id INTO coloc FROM pgmesh.distributed_tables WHERE relid = p_colocate_with;
  ELSE
    INSERT INTO pgmesh.colocation_groups (shard_count, dist_type)
    SELECT p_shard_count, atttypid FROM pg_attribute WHERE attrelid = p_tbl AND attname = p_col
    RETURNING colocation_id INTO coloc;
  END IF;
  SELECT array_agg(group_name ORDER BY group_name) INTO groups FROM pgmesh.worker_groups WHERE state = 'active';

  -- The local table steps aside under a temporary name; the parent takes its name.
  tmpname := left(rel.relname, 40) || '_pgmesh_local';
  EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', rel.nspname, rel.relname, tmpname);
  EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING COMMENTS) PARTITION BY HASH (%I)',
                 rel.nspname, rel.relname, rel.nspname, tmpname, p_col);
  newtbl := format('%I.%I', rel.nspname, rel.relname)::regclass;
  FOR seq IN SELECT a.attname, pg_get_serial_sequence(format('%I.%I', rel.nspname, tmpname), a.attname) AS s
               FROM pg_attribute a WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped LOOP
    IF seq.s IS NOT NULL THEN
      EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', seq.s, newtbl, seq.attname);
    END IF;
  END LOOP;
  INSERT INTO pgmesh.distributed_tables (relid, dist_column, colocation_id, shard_ddl)
  VALUES (newtbl, p_col, coloc, ddl);

  BEGIN
    FOR r IN 0 .. p_shard_count - 1 LOOP
      IF p_colocate_with IS NOT NULL THEN
        SELECT group_name INTO grp FROM pgmesh.shards WHERE relid = p_colocate_with AND remainder = r;
      ELSE
        grp := groups[1 + r % cardinality(groups)];
      END IF;
      shard := pgmesh._shard_name(newtbl, r);
      PERFORM pgmesh._exec(grp, format('CREATE TABLE pgmesh_shards.%I (%s)', shard, ddl));
      created := created || (grp || '/' || shard);
      PERFORM pgmesh._attach_shard(newtbl, p_shard_count, r, grp, shard);
      INSERT INTO pgmesh.shards (relid, modulus, remainder, group_name, shard_table, partition)
      VALUES (newtbl, p_shard_count, r, grp, shard, shard);
    END LOOP;
    -- Moving the rows writes to every group, knowingly: the commit is the coordinator's,
    -- and on failure the workers' tables are dropped below.
    PERFORM set_config('pgmesh.cross_group_writes', 'allow', true);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %I.%I', newtbl, cols, cols, rel.nspname, tmpname);
    PERFORM set_config('pgmesh.cross_group_writes', 'refuse', true);
    EXECUTE format('DROP TABLE %I.%I', rel.nspname, tmpname);
  EXCEPTION WHEN OTHERS THEN
    FOR r IN 1 .. cardinality(created) LOOP
      BEGIN
        PERFORM pgmesh._exec(split_part(created[r], '/', 1),
                             format('DROP TABLE IF EXISTS pgmesh_shards.%I', split_part(created[r], '/', 2)));
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
    END LOOP;
    RAISE;
  END;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('create_distributed_table',
    jsonb_build_object('table', newtbl::text, 'column', p_col, 'shards', p_shard_count, 'colocation_id', coloc));
  RETURN coloc;
END $$;

-- Runs a command template on every shard of a distributed table: %1$s is the quoted,
-- qualified shard table, %2$s its bare name (for index names). With p_remember the
-- command is also replayed on shards created later (moves). The template is trusted
-- DDL from an administrator or the agent, never user input.
CREATE OR REPLACE FUNCTION pgmesh.run_on_shards(p_tbl regclass, p_command text, p_remember boolean DEFAULT true)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s record;
  n int := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is not a distributed table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF position('%' IN replace(replace(p_command, '%1$s', ''), '%2$s', '')) > 0 THEN
    RAISE EXCEPTION 'pgmesh: command template may only use %%1$s and %%2$s' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR s IN SELECT * FROM pgmesh.shards WHERE relid = p_tbl ORDER BY remainder LOOP
    PERFORM pgmesh._exec(s.group_name,
      format(p_command, format('pgmesh_shards.%I', s.shard_table), s.shard_table));
    n := n + 1;
  END LOOP;
  IF p_remember AND NOT EXISTS (SELECT 1 FROM pgmesh.shard_commands WHERE relid = p_tbl AND command = p_command) THEN
    INSERT INTO pgmesh.shard_commands (relid, command) VALUES (p_tbl, p_command);
  END IF;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('run_on_shards', jsonb_build_object('table', p_tbl::text, 'shards', n));
  RETURN n;
END $$;

-- A reference table stays a plain table on the coordinator (queries and writes use it
-- there) and is copied to every worker group as pgmesh_shards.<schema>_<table>, for
-- joins on the workers. pgmesh.sync_reference_table refreshes the copies.
CREATE OR REPLACE FUNCTION pgmesh.sync_reference_table(p_tbl regclass) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  g record;
  ddl text;
  shard name := pgmesh._shard_name(p_tbl, 0);
  tmp text := 'pgmesh_ref_' || p_tbl::oid;
  n int := 0;
BEGIN
  SELECT shard_ddl INTO ddl FROM pgmesh.reference_tables WHERE relid = p_tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: % is not a reference table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  FOR g IN SELECT * FROM pgmesh.worker_groups ORDER BY group_name LOOP
    PERFORM pgmesh._exec(g.group_name, format('CREATE TABLE IF NOT EXISTS pgmesh_shards.%I (%s)', shard, ddl));
    PERFORM pgmesh._exec(g.group_name, format('TRUNCATE pgmesh_shards.%I', shard));
    EXECUTE format('CREATE FOREIGN TABLE pg_temp.%I (LIKE %s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   tmp, p_tbl, g.server_name, 'pgmesh_shards', shard);
    -- One group per statement: each copy is its own remote transaction.
    PERFORM set_config('pgmesh.cross_group_writes', 'allow', true);
    EXECUTE format('INSERT INTO pg_temp.%I SELECT * FROM %s', tmp, p_tbl);
    PERFORM set_config('pgmesh.cross_group_writes', 'refuse', true);
    EXECUTE format('DROP FOREIGN TABLE pg_temp.%I', tmp);
    n := n + 1;
  END LOOP;
  UPDATE pgmesh.reference_tables SET synced_at = now() WHERE relid = p_tbl;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION pgmesh.create_reference_table(p_tbl regclass) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE rel record;
BEGIN
  SELECT c.relname, n.nspname, c.relkind INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_tbl;
  PERFORM pgmesh._check_ident('schema', rel.nspname);
  PERFORM pgmesh._check_ident('table', rel.relname);
  IF rel.relkind <> 'r' OR EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is not a plain table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  INSERT INTO pgmesh.reference_tables (relid, shard_ddl) VALUES (p_tbl, pgmesh._shard_ddl(p_tbl))
  ON CONFLICT (relid) DO NOTHING;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('create_reference_table', jsonb_build_object('table', p_tbl::text));
  RETURN pgmesh.sync_reference_table(p_tbl);
END $$;
