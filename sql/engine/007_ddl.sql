-- pgmesh engine, version 8: schema changes through the coordinator reach every shard
-- (the DDL hook in images/pgnode/ext/ddl.c calls the _ddl_* functions below), foreign
-- keys of distributed tables, reference tables on PostgreSQL 17 whose writes reach every
-- worker group, and create_distributed_table with named arguments.
--
-- Every function that changes shards runs with pgmesh.propagate_ddl = off (its own DDL
-- on the coordinator is not propagated again) and search_path = pg_catalog, so the
-- catalog texts it sends to workers (format_type, pg_get_expr, pg_get_constraintdef,
-- pg_get_indexdef) are schema-qualified.

-- The engine's own DDL is not propagated by the DDL hook (which is on from this version).
SET LOCAL pgmesh.propagate_ddl = off;

-- ---------- metadata ----------

-- Foreign keys of distributed tables: PostgreSQL cannot hold them on a parent whose
-- partitions are foreign tables, so the engine keeps them and creates them on the shards.
CREATE TABLE IF NOT EXISTS pgmesh.foreign_keys (
  relid      regclass NOT NULL REFERENCES pgmesh.distributed_tables ON DELETE CASCADE,
  conname    name NOT NULL,
  ref_relid  regclass NOT NULL,
  cols       text[] NOT NULL,
  ref_cols   text[] NOT NULL,
  tail       text NOT NULL DEFAULT '',   -- MATCH / ON UPDATE / ON DELETE / DEFERRABLE
  validated  boolean NOT NULL,
  PRIMARY KEY (relid, conname)
);

-- The copy's name on every worker group, fixed at creation (a renamed table keeps it).
ALTER TABLE pgmesh.reference_tables ADD COLUMN IF NOT EXISTS shard_table name;
UPDATE pgmesh.reference_tables SET shard_table = pgmesh._shard_name(relid, 0) WHERE shard_table IS NULL;

-- Column and constraint list of a table for creating its shards, now with defaults
-- (evaluated by the coordinator for routed rows, by the shard for ADD COLUMN on existing
-- rows; sequence defaults stay on the coordinator) and generated columns (postgres_fdw
-- leaves them to the remote side).
CREATE OR REPLACE FUNCTION pgmesh._shard_ddl(p_tbl regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(def, ', ' ORDER BY ord) FROM (
    SELECT a.attnum AS ord,
           format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attgenerated = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid))
                       WHEN d.adbin IS NOT NULL AND pg_get_expr(d.adbin, d.adrelid) NOT LIKE '%nextval(%'
                         THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)
                       ELSE '' END,
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END) AS def
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- CHECK keeps its name (later DDL names it); PRIMARY KEY / UNIQUE take PostgreSQL's
    -- per-shard index names.
    SELECT 10000 + row_number() OVER (ORDER BY c.conname),
           CASE WHEN c.contype = 'c' THEN format('CONSTRAINT %I ', c.conname) ELSE '' END || pg_get_constraintdef(c.oid)
      FROM pg_constraint c
     WHERE c.conrelid = p_tbl AND c.contype IN ('p', 'u', 'c')
  ) d
$$;

-- ---------- remote statements ----------

-- Statements on a worker group run inside the remote transaction postgres_fdw holds for
-- this backend on that group: an INSERT into pgmesh_part.pgmesh_remote_<group> (a foreign
-- table) reaches pgmesh_shards.pgmesh_remote on the group, whose BEFORE INSERT trigger
-- executes the row's statement and stores nothing. So a shard change commits or rolls
-- back with the coordinator's transaction (savepoints included), sees this transaction's
-- reads and writes through the foreign tables and is seen by them (a separate
-- connection would wait for ever on the locks of our own remote transaction), and a
-- group that cannot be reached fails the statement before anything commits. The
-- cross-group write check (pgmesh.c) exempts these tables.
CREATE OR REPLACE FUNCTION pgmesh._setup_remote(p_group text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
BEGIN
  PERFORM pgmesh._exec(p_group,
    'CREATE TABLE IF NOT EXISTS pgmesh_shards.pgmesh_remote (sql text NOT NULL); '
    'REVOKE ALL ON pgmesh_shards.pgmesh_remote FROM PUBLIC; '
    'CREATE OR REPLACE FUNCTION pgmesh_shards.pgmesh_remote_exec() RETURNS trigger '
    'LANGUAGE plpgsql AS $f$ BEGIN EXECUTE NEW.sql; RETURN NULL; END $f$; '
    'CREATE OR REPLACE TRIGGER pgmesh_remote_exec BEFORE INSERT ON pgmesh_shards.pgmesh_remote '
    'FOR EACH ROW EXECUTE FUNCTION pgmesh_shards.pgmesh_remote_exec()');
  IF to_regclass(format('pgmesh_part.%I', 'pgmesh_remote_' || p_group)) IS NULL THEN
    EXECUTE format('CREATE FOREIGN TABLE pgmesh_part.%I (sql text) SERVER %I '
                   'OPTIONS (schema_name %L, table_name %L, batch_size %L)',
                   'pgmesh_remote_' || p_group, pgmesh._server(p_group), 'pgmesh_shards', 'pgmesh_remote', '1');
    EXECUTE format('REVOKE ALL ON pgmesh_part.%I FROM PUBLIC', 'pgmesh_remote_' || p_group);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION pgmesh._remote(p_group text, p_sql text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pgmesh._server(p_group) IS NULL THEN
    RAISE EXCEPTION 'pgmesh: worker group % does not exist', quote_literal(p_group);
  END IF;
  IF to_regclass(format('pgmesh_part.%I', 'pgmesh_remote_' || p_group)) IS NULL THEN
    PERFORM pgmesh._setup_remote(p_group);
  END IF;
  EXECUTE format('INSERT INTO pgmesh_part.%I (sql) VALUES ($1)', 'pgmesh_remote_' || p_group) USING p_sql;
END $$;

-- Shard copies of a table: (group, shard_table, remainder); a reference table has one
-- copy per worker group.
CREATE OR REPLACE FUNCTION pgmesh._ddl_targets(p_tbl regclass)
RETURNS TABLE (group_name text, shard_table name, remainder int)
LANGUAGE sql STABLE AS $$
  SELECT s.group_name, s.shard_table, s.remainder FROM pgmesh.shards s WHERE s.relid = p_tbl
  UNION ALL
  SELECT g.group_name, r.shard_table, 0 FROM pgmesh.reference_tables r CROSS JOIN pgmesh.worker_groups g
   WHERE r.relid = p_tbl
  ORDER BY 1, 3
$$;

-- 'd:<distribution column>' for a distributed table, 'r' for a reference table, else NULL.
CREATE OR REPLACE FUNCTION pgmesh._ddl_table_info(p_oid oid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT 'd:' || dist_column FROM pgmesh.distributed_tables WHERE relid = p_oid
  UNION ALL
  SELECT 'r' FROM pgmesh.reference_tables WHERE relid = p_oid
  LIMIT 1
$$;

-- ---------- the catalog snapshot and its difference ----------

-- An index in shard form: unique?, and the text after "USING " of pg_get_indexdef
-- (access method, columns, INCLUDE, WITH, WHERE), which does not depend on the names of
-- the index or its table.
CREATE OR REPLACE FUNCTION pgmesh._ddl_index_form(p_index oid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('unique', i.indisunique,
           'tail', substr(d.def, strpos(d.def, d.tbl || ' USING ') + length(d.tbl) + 7))
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def,
                               quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS tbl) d
   WHERE i.indexrelid = p_index
$$;

CREATE OR REPLACE FUNCTION pgmesh._ddl_snapshot(p_tbl regclass) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object(
    'cols', (SELECT coalesce(jsonb_agg(jsonb_build_object(
               'n', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
               'coll', CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
                         (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                           WHERE co.oid = a.attcollation) END,
               'notnull', a.attnotnull, 'gen', a.attgenerated,
               'def', pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum), '[]')
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped),
    'cons', (SELECT coalesce(jsonb_agg(jsonb_build_object(
               'oid', c.oid, 'name', c.conname, 'type', c.contype,
               'def', pg_get_constraintdef(c.oid), 'valid', c.convalidated) ORDER BY c.oid), '[]')
               FROM pg_constraint c WHERE c.conrelid = p_tbl AND c.contype IN ('c', 'p', 'u')),
    'idx', (SELECT coalesce(jsonb_agg(jsonb_build_object('oid', i.indexrelid)
               || pgmesh._ddl_index_form(i.indexrelid) ORDER BY i.indexrelid), '[]')
               FROM pg_index i
              WHERE i.indrelid = p_tbl
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                 WHERE c.conrelid = p_tbl AND c.conindid = i.indexrelid
                                   AND c.contype IN ('p', 'u', 'x'))))
$$;

-- A DO block run on a worker: creates the index on the shard unless one of the same
-- form exists (so a statement re-run after a failure, or an index built concurrently
-- beforehand, is not built twice). p_prefix is 'CREATE [UNIQUE] INDEX [CONCURRENTLY]'.
CREATE OR REPLACE FUNCTION pgmesh._ddl_shard_index_sql(p_shard name, p_form jsonb, p_create boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT format(
    'DO $pgmesh$ DECLARE r record; BEGIN '
    'FOR r IN SELECT i.indexrelid::regclass AS ix FROM pg_catalog.pg_index i '
    'WHERE i.indrelid = %1$L::regclass AND i.indisunique = %2$L '
    'AND substr(pg_catalog.pg_get_indexdef(i.indexrelid), strpos(pg_catalog.pg_get_indexdef(i.indexrelid), %3$L) + %4$s) = %5$L '
    'AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid) LOOP '
    '%6$s END LOOP; %7$s END $pgmesh$',
    format('pgmesh_shards.%I', p_shard), (p_form->>'unique')::boolean,
    format('pgmesh_shards.%I USING ', p_shard), length(format('pgmesh_shards.%I USING ', p_shard)),
    p_form->>'tail',
    CASE WHEN p_create THEN 'RETURN;' ELSE 'EXECUTE ''DROP INDEX '' || r.ix;' END,
    CASE WHEN p_create THEN format('EXECUTE %L;', format('CREATE %sINDEX ON pgmesh_shards.%I USING %s',
           CASE WHEN (p_form->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END, p_shard, p_form->>'tail'))
         ELSE '' END)
$$;

-- Drops the index-backed constraint of this definition on a shard (shard constraint
-- names are PostgreSQL's own, unique per shard).
CREATE OR REPLACE FUNCTION pgmesh._ddl_shard_drop_constraint_sql(p_shard name, p_def text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT format(
    'DO $pgmesh$ DECLARE r record; BEGIN '
    'FOR r IN SELECT c.conname FROM pg_catalog.pg_constraint c WHERE c.conrelid = %1$L::regclass '
    'AND c.contype IN (''p'', ''u'') AND pg_catalog.pg_get_constraintdef(c.oid) = %2$L LOOP '
    'EXECUTE pg_catalog.format(''ALTER TABLE %%s DROP CONSTRAINT %%I'', %1$L, r.conname); END LOOP; END $pgmesh$',
    format('pgmesh_shards.%I', p_shard), p_def)
$$;

-- The shard statements that turn the shard from "before" into "after", in order.
CREATE OR REPLACE FUNCTION pgmesh._ddl_diff(p_before jsonb, p_after jsonb, p_shard name)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  tgt text := format('pgmesh_shards.%I', p_shard);
  out text[] := '{}';
  b jsonb;
  a jsonb;
  def text;
BEGIN
  -- Columns, matched by attribute number.
  FOR b, a IN SELECT x.v, y.v FROM jsonb_array_elements(p_before->'cols') x(v)
               JOIN jsonb_array_elements(p_after->'cols') y(v) ON (x.v->'n') = (y.v->'n') LOOP
    IF b->>'name' <> a->>'name' THEN
      out := out || format('ALTER TABLE %s RENAME COLUMN %I TO %I', tgt, b->>'name', a->>'name');
    END IF;
  END LOOP;
  FOR b IN SELECT x.v FROM jsonb_array_elements(p_before->'cols') x(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_after->'cols') y(v) WHERE (y.v->'n') = (x.v->'n')) LOOP
    out := out || format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', tgt, b->>'name');
  END LOOP;
  FOR a IN SELECT y.v FROM jsonb_array_elements(p_after->'cols') y(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_before->'cols') x(v) WHERE (y.v->'n') = (x.v->'n'))
            ORDER BY (y.v->>'n')::int LOOP
    def := format('ALTER TABLE %s ADD COLUMN %I %s', tgt, a->>'name', a->>'type');
    IF a->>'coll' IS NOT NULL THEN def := def || ' COLLATE ' || (a->>'coll'); END IF;
    IF a->>'gen' = 's' THEN
      def := def || format(' GENERATED ALWAYS AS (%s) STORED', a->>'def');
    ELSIF a->>'def' IS NOT NULL AND a->>'def' NOT LIKE '%nextval(%' THEN
      -- Existing rows get the default, as on a single PostgreSQL.
      def := def || ' DEFAULT ' || (a->>'def');
    END IF;
    IF (a->>'notnull')::boolean THEN def := def || ' NOT NULL'; END IF;
    out := out || def;
  END LOOP;
  FOR b, a IN SELECT x.v, y.v FROM jsonb_array_elements(p_before->'cols') x(v)
               JOIN jsonb_array_elements(p_after->'cols') y(v) ON (x.v->'n') = (y.v->'n') LOOP
    IF b->>'type' <> a->>'type' OR (b->>'coll') IS DISTINCT FROM (a->>'coll') THEN
      out := out || format('ALTER TABLE %s ALTER COLUMN %I TYPE %s%s', tgt, a->>'name', a->>'type',
                           CASE WHEN a->>'coll' IS NOT NULL THEN ' COLLATE ' || (a->>'coll') ELSE '' END);
    END IF;
    IF (b->>'def') IS DISTINCT FROM (a->>'def') AND coalesce(a->>'gen', '') <> 's' THEN
      IF a->>'def' IS NULL OR a->>'def' LIKE '%nextval(%' THEN
        out := out || format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', tgt, a->>'name');
      ELSE
        out := out || format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', tgt, a->>'name', a->>'def');
      END IF;
    END IF;
    IF (b->>'notnull')::boolean <> (a->>'notnull')::boolean THEN
      out := out || format('ALTER TABLE %s ALTER COLUMN %I %s NOT NULL', tgt, a->>'name',
                           CASE WHEN (a->>'notnull')::boolean THEN 'SET' ELSE 'DROP' END);
    END IF;
  END LOOP;

  -- Constraints, matched by OID: dropped, renamed, validated, added.
  FOR b IN SELECT x.v FROM jsonb_array_elements(p_before->'cons') x(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_after->'cons') y(v) WHERE (y.v->'oid') = (x.v->'oid')) LOOP
    IF b->>'type' = 'c' THEN
      out := out || format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', tgt, b->>'name');
    ELSE
      out := out || pgmesh._ddl_shard_drop_constraint_sql(p_shard, b->>'def');
    END IF;
  END LOOP;
  FOR b, a IN SELECT x.v, y.v FROM jsonb_array_elements(p_before->'cons') x(v)
               JOIN jsonb_array_elements(p_after->'cons') y(v) ON (x.v->'oid') = (y.v->'oid') LOOP
    IF a->>'type' = 'c' AND b->>'name' <> a->>'name' THEN
      out := out || format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', tgt, b->>'name', a->>'name');
    END IF;
    IF a->>'type' = 'c' AND NOT (b->>'valid')::boolean AND (a->>'valid')::boolean THEN
      out := out || format('ALTER TABLE %s VALIDATE CONSTRAINT %I', tgt, a->>'name');
    END IF;
  END LOOP;
  FOR a IN SELECT y.v FROM jsonb_array_elements(p_after->'cons') y(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_before->'cons') x(v) WHERE (y.v->'oid') = (x.v->'oid'))
            ORDER BY (y.v->>'oid')::bigint LOOP
    IF a->>'type' = 'c' THEN
      out := out || format('ALTER TABLE %s ADD CONSTRAINT %I %s', tgt, a->>'name', a->>'def');
    ELSE
      -- Index-backed: the shard's name is PostgreSQL's own (unique per shard).
      out := out || format('ALTER TABLE %s ADD %s', tgt, a->>'def');
    END IF;
  END LOOP;

  -- Indexes (not backing a constraint), matched by OID; renames change nothing on shards.
  FOR b IN SELECT x.v FROM jsonb_array_elements(p_before->'idx') x(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_after->'idx') y(v) WHERE (y.v->'oid') = (x.v->'oid')) LOOP
    out := out || pgmesh._ddl_shard_index_sql(p_shard, b, false);
  END LOOP;
  FOR a IN SELECT y.v FROM jsonb_array_elements(p_after->'idx') y(v)
            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_before->'idx') x(v) WHERE (y.v->'oid') = (x.v->'oid')) LOOP
    out := out || pgmesh._ddl_shard_index_sql(p_shard, a, true);
  END LOOP;
  RETURN out;
END $$;

-- Index commands remembered for shards created later (moves), one per parent index.
CREATE OR REPLACE FUNCTION pgmesh._ddl_index_command(p_form jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('CREATE %sINDEX ON %%1$s USING %s',
                CASE WHEN (p_form->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END,
                replace(p_form->>'tail', '%', '%%'))
$$;

-- The foreign partitions belong to the parent's owner (PostgreSQL does not pass ALTER
-- TABLE ... OWNER TO on to partitions, and an ALTER TABLE on the parent recurses to them
-- with an ownership check), so the owner of a distributed table may change it.
CREATE OR REPLACE FUNCTION pgmesh._ddl_partition_owner(p_tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE p record;
BEGIN
  FOR p IN SELECT c.oid::regclass AS part, pg_get_userbyid(parent.relowner) AS owner
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent
            WHERE i.inhparent = p_tbl AND c.relkind = 'f' AND c.relowner <> parent.relowner LOOP
    EXECUTE format('ALTER FOREIGN TABLE %s OWNER TO %I', p.part, p.owner);
  END LOOP;
END $$;

-- Applies the difference between p_before and the table's current definition to every
-- shard (remote transactions committed with the caller's), and keeps the metadata that
-- builds future shards (shard_ddl, remembered index commands, distribution column name).
CREATE OR REPLACE FUNCTION pgmesh._ddl_propagate(p_tbl regclass, p_before jsonb, p_metadata_only boolean DEFAULT false) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  after jsonb := pgmesh._ddl_snapshot(p_tbl);
  t record;
  stmts text[];
  n int := 0;
  x jsonb;
BEGIN
  PERFORM pgmesh._ddl_partition_owner(p_tbl);
  IF after = p_before THEN RETURN 0; END IF;
  -- One remote round trip per group (every shard of the group), not per shard: the
  -- coordinator holds its lock on the parent meanwhile. p_metadata_only: the shards
  -- were changed already (CREATE INDEX CONCURRENTLY).
  FOR t IN SELECT d.group_name, array_agg(d.shard_table ORDER BY d.remainder) AS shards
             FROM pgmesh._ddl_targets(p_tbl) d WHERE NOT p_metadata_only GROUP BY d.group_name ORDER BY d.group_name LOOP
    stmts := '{}';
    FOR i IN 1 .. cardinality(t.shards) LOOP
      stmts := stmts || pgmesh._ddl_diff(p_before, after, t.shards[i]);
      n := n + 1;
    END LOOP;
    IF cardinality(stmts) > 0 THEN
      PERFORM pgmesh._remote(t.group_name, array_to_string(stmts, '; '));
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = p_tbl) THEN
    UPDATE pgmesh.distributed_tables d
       SET shard_ddl = pgmesh._shard_ddl(p_tbl),
           dist_column = (SELECT a.attname FROM pg_partitioned_table pt
                            JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
                           WHERE pt.partrelid = p_tbl)
     WHERE d.relid = p_tbl;
    FOR x IN SELECT v FROM jsonb_array_elements(p_before->'idx') v
              WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(after->'idx') y(w) WHERE (y.w->'oid') = (v->'oid')) LOOP
      DELETE FROM pgmesh.shard_commands WHERE relid = p_tbl AND command = pgmesh._ddl_index_command(x);
    END LOOP;
    FOR x IN SELECT v FROM jsonb_array_elements(after->'idx') v
              WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_before->'idx') y(w) WHERE (y.w->'oid') = (v->'oid')) LOOP
      IF NOT EXISTS (SELECT 1 FROM pgmesh.shard_commands WHERE relid = p_tbl AND command = pgmesh._ddl_index_command(x)) THEN
        INSERT INTO pgmesh.shard_commands (relid, command) VALUES (p_tbl, pgmesh._ddl_index_command(x));
      END IF;
    END LOOP;
  ELSE
    UPDATE pgmesh.reference_tables SET shard_ddl = pgmesh._shard_ddl(p_tbl) WHERE relid = p_tbl;
  END IF;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('ddl', jsonb_build_object('table', p_tbl::text, 'shards', n));
  RETURN n;
END $$;

-- CREATE INDEX CONCURRENTLY: every shard's index is built concurrently (autocommit on
-- the worker, one shard after the other) before the coordinator's. A failure drops what
-- this call built (and any invalid leftover) and re-raises: nothing half-built stays.
CREATE OR REPLACE FUNCTION pgmesh._ddl_create_index_concurrently(p_tbl regclass, p_form jsonb) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  t record;
  done record;
  n int := 0;
  built text[] := '{}';
  have int;
  probe text;
BEGIN
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    probe := format(
      'SELECT count(*) FILTER (WHERE i.indisvalid) FROM pg_catalog.pg_index i WHERE i.indrelid = %L::regclass '
      'AND i.indisunique = %L AND substr(pg_catalog.pg_get_indexdef(i.indexrelid), '
      'strpos(pg_catalog.pg_get_indexdef(i.indexrelid), %L) + %s) = %L',
      format('pgmesh_shards.%I', t.shard_table), (p_form->>'unique')::boolean,
      format('pgmesh_shards.%I USING ', t.shard_table), length(format('pgmesh_shards.%I USING ', t.shard_table)),
      p_form->>'tail');
    have := pgmesh._query(t.group_name, probe)::int;
    CONTINUE WHEN have > 0;
    BEGIN
      -- An invalid leftover of an earlier failed build goes first.
      PERFORM pgmesh._exec(t.group_name, pgmesh._ddl_shard_index_sql(t.shard_table, p_form, false));
      PERFORM pgmesh._exec(t.group_name, format('CREATE %sINDEX CONCURRENTLY ON pgmesh_shards.%I USING %s',
        CASE WHEN (p_form->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END, t.shard_table, p_form->>'tail'));
      built := built || (t.group_name || '/' || t.shard_table);
      n := n + 1;
    EXCEPTION WHEN OTHERS THEN
      FOR done IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
        BEGIN
          IF (done.group_name || '/' || done.shard_table) = ANY (built) OR done.shard_table = t.shard_table THEN
            PERFORM pgmesh._exec(done.group_name, pgmesh._ddl_shard_index_sql(done.shard_table, p_form, false));
          END IF;
        EXCEPTION WHEN OTHERS THEN
          RAISE WARNING 'pgmesh: could not drop the index built on shard %: %', done.shard_table, SQLERRM;
        END;
      END LOOP;
      RAISE;
    END;
  END LOOP;
  RETURN n;
END $$;

-- ---------- DROP TABLE ----------

CREATE OR REPLACE FUNCTION pgmesh._ddl_drop_table(p_tbl regclass, p_cascade boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  t record;
  ref record;
BEGIN
  SELECT fk.relid, fk.conname INTO ref FROM pgmesh.foreign_keys fk WHERE fk.ref_relid = p_tbl AND fk.relid <> p_tbl LIMIT 1;
  IF FOUND AND NOT p_cascade THEN
    RAISE EXCEPTION 'cannot drop table % because other objects depend on it', p_tbl
      USING ERRCODE = 'dependent_objects_still_exist',
            DETAIL = format('constraint %s on table %s depends on table %s', ref.conname, ref.relid, p_tbl),
            HINT = 'Use DROP ... CASCADE to drop the dependent objects too.';
  END IF;
  FOR ref IN SELECT fk.relid, fk.conname FROM pgmesh.foreign_keys fk WHERE fk.ref_relid = p_tbl AND fk.relid <> p_tbl LOOP
    PERFORM pgmesh._ddl_drop_foreign_key(ref.relid, ref.conname, true);
  END LOOP;
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format('DROP TABLE IF EXISTS pgmesh_shards.%I%s', t.shard_table,
                                                CASE WHEN p_cascade THEN ' CASCADE' ELSE '' END));
  END LOOP;
  DELETE FROM pgmesh.foreign_keys WHERE relid = p_tbl OR ref_relid = p_tbl;
  DELETE FROM pgmesh.shards WHERE relid = p_tbl;
  DELETE FROM pgmesh.distributed_tables WHERE relid = p_tbl;
  DELETE FROM pgmesh.reference_tables WHERE relid = p_tbl;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('drop_table', jsonb_build_object('table', p_tbl::text));
END $$;

-- ---------- foreign keys of distributed tables ----------

-- The shard statement of a foreign key, as a command template (%1$s: the shard, %3$s: its
-- remainder), also remembered for shards created later by moves.
CREATE OR REPLACE FUNCTION pgmesh._ddl_fk_command(p_fk pgmesh.foreign_keys, p_not_valid boolean)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  target text;
  cols text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_fk.cols) c);
  rcols text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_fk.ref_cols) c);
BEGIN
  SELECT format('pgmesh_shards.%I', shard_table) INTO target FROM pgmesh.reference_tables WHERE relid = p_fk.ref_relid;
  IF target IS NULL THEN
    -- Co-located: the referenced shard of the same remainder (its name minus the remainder).
    SELECT 'pgmesh_shards."' || replace(regexp_replace(shard_table, '_[0-9]+$', ''), '"', '""') || '_%3$s"'
      INTO target FROM pgmesh.shards WHERE relid = p_fk.ref_relid AND remainder = 0;
  ELSE
    target := replace(target, '%', '%%');
  END IF;
  RETURN format('ALTER TABLE %%1$s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)%s%s',
                replace(quote_ident(p_fk.conname), '%', '%%'), replace(cols, '%', '%%'), target,
                replace(rcols, '%', '%%'), replace(p_fk.tail, '%', '%%'),
                CASE WHEN p_not_valid THEN ' NOT VALID' ELSE '' END);
END $$;

CREATE OR REPLACE FUNCTION pgmesh._ddl_add_foreign_key(
  p_tbl regclass, p_name text, p_cols text[], p_ref regclass, p_ref_cols text[], p_tail text, p_not_valid boolean)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  me pgmesh.distributed_tables;
  other pgmesh.distributed_tables;
  fk pgmesh.foreign_keys;
  k int;
  t record;
  cmd text;
BEGIN
  SELECT * INTO me FROM pgmesh.distributed_tables WHERE relid = p_tbl;
  IF coalesce(cardinality(p_ref_cols), 0) = 0 THEN
    SELECT array_agg(a.attname::text ORDER BY u.ord) INTO p_ref_cols
      FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY u(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.attnum
     WHERE c.conrelid = p_ref AND c.contype = 'p';
    IF p_ref_cols IS NULL THEN
      RAISE EXCEPTION 'there is no primary key for referenced table "%"', p_ref::text USING ERRCODE = 'invalid_foreign_key';
    END IF;
  END IF;
  IF cardinality(p_cols) <> cardinality(p_ref_cols) THEN
    RAISE EXCEPTION 'number of referencing and referenced columns for foreign key disagree' USING ERRCODE = 'invalid_foreign_key';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pgmesh.reference_tables WHERE relid = p_ref) THEN
    SELECT * INTO other FROM pgmesh.distributed_tables WHERE relid = p_ref;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'pgmesh: a foreign key of distributed table % must reference a reference table or a distributed table co-located with it; % is neither', p_tbl, p_ref
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Make the referenced table a reference table (pgmesh.create_reference_table) or distribute it co-located.';
    END IF;
    IF other.colocation_id <> me.colocation_id THEN
      RAISE EXCEPTION 'pgmesh: foreign key from % to % crosses co-location groups (% and %)', p_tbl, p_ref, me.colocation_id, other.colocation_id
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Distribute the referenced table with colocate_with, or reference a reference table.';
    END IF;
    k := array_position(p_cols, me.dist_column::text);
    IF k IS NULL OR p_ref_cols[k] <> other.dist_column::text THEN
      RAISE EXCEPTION 'pgmesh: foreign key from % to % must map distribution column % to %', p_tbl, p_ref, quote_ident(me.dist_column), quote_ident(other.dist_column)
        USING ERRCODE = 'feature_not_supported';
    END IF;
  END IF;
  IF p_name IS NULL THEN
    p_name := left((SELECT relname FROM pg_class WHERE oid = p_tbl) || '_' || array_to_string(p_cols, '_'), 58) || '_fkey';
  END IF;
  IF EXISTS (SELECT 1 FROM pgmesh.foreign_keys WHERE relid = p_tbl AND conname = p_name)
     OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = p_tbl AND conname = p_name) THEN
    RAISE EXCEPTION 'constraint "%" for relation "%" already exists', p_name, p_tbl::text USING ERRCODE = 'duplicate_object';
  END IF;
  fk := ROW(p_tbl, p_name, p_ref, p_cols, p_ref_cols, coalesce(p_tail, ''), NOT p_not_valid)::pgmesh.foreign_keys;
  cmd := pgmesh._ddl_fk_command(fk, p_not_valid);
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format(cmd, format('pgmesh_shards.%I', t.shard_table), t.shard_table, t.remainder));
  END LOOP;
  INSERT INTO pgmesh.foreign_keys VALUES (fk.*);
  -- Moved shards get the constraint after their copy (validated: the data was).
  INSERT INTO pgmesh.shard_commands (relid, command) VALUES (p_tbl, pgmesh._ddl_fk_command(fk, false));
  INSERT INTO pgmesh.journal (op, detail) VALUES ('add_foreign_key', jsonb_build_object('table', p_tbl::text, 'name', p_name, 'references', p_ref::text));
END $$;

CREATE OR REPLACE FUNCTION pgmesh._ddl_drop_foreign_key(p_tbl regclass, p_name text, p_missing_ok boolean)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  fk pgmesh.foreign_keys;
  t record;
BEGIN
  SELECT * INTO fk FROM pgmesh.foreign_keys WHERE relid = p_tbl AND conname = p_name;
  IF NOT FOUND THEN
    IF p_missing_ok THEN RETURN; END IF;
    RAISE EXCEPTION 'constraint "%" of relation "%" does not exist', p_name, p_tbl::text USING ERRCODE = 'undefined_object';
  END IF;
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format('ALTER TABLE pgmesh_shards.%I DROP CONSTRAINT IF EXISTS %I', t.shard_table, p_name));
  END LOOP;
  DELETE FROM pgmesh.shard_commands WHERE relid = p_tbl AND command = pgmesh._ddl_fk_command(fk, false);
  DELETE FROM pgmesh.foreign_keys WHERE relid = p_tbl AND conname = p_name;
END $$;

CREATE OR REPLACE FUNCTION pgmesh._ddl_validate_foreign_key(p_tbl regclass, p_name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE t record;
BEGIN
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format('ALTER TABLE pgmesh_shards.%I VALIDATE CONSTRAINT %I', t.shard_table, p_name));
  END LOOP;
  UPDATE pgmesh.foreign_keys SET validated = true WHERE relid = p_tbl AND conname = p_name;
END $$;

CREATE OR REPLACE FUNCTION pgmesh._ddl_rename_foreign_key(p_tbl regclass, p_name text, p_new text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  fk pgmesh.foreign_keys;
  t record;
BEGIN
  SELECT * INTO fk FROM pgmesh.foreign_keys WHERE relid = p_tbl AND conname = p_name;
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format('ALTER TABLE pgmesh_shards.%I RENAME CONSTRAINT %I TO %I', t.shard_table, p_name, p_new));
  END LOOP;
  DELETE FROM pgmesh.shard_commands WHERE relid = p_tbl AND command = pgmesh._ddl_fk_command(fk, false);
  UPDATE pgmesh.foreign_keys SET conname = p_new WHERE relid = p_tbl AND conname = p_name;
  fk.conname := p_new;
  INSERT INTO pgmesh.shard_commands (relid, command) VALUES (p_tbl, pgmesh._ddl_fk_command(fk, false));
END $$;

-- Every constraint of distributed and reference tables as the shards have it: the
-- catalog's (CHECK, PRIMARY KEY, UNIQUE) and the engine's foreign keys.
CREATE OR REPLACE VIEW pgmesh.table_constraints AS
  SELECT c.conrelid::regclass AS table_name, c.conname AS constraint_name, c.contype::text AS constraint_type,
         pg_get_constraintdef(c.oid) AS definition, c.convalidated AS validated, 'catalog'::text AS source
    FROM pg_constraint c
   WHERE c.conrelid IN (SELECT relid FROM pgmesh.distributed_tables UNION ALL SELECT relid FROM pgmesh.reference_tables)
  UNION ALL
  SELECT fk.relid, fk.conname, 'f',
         format('FOREIGN KEY (%s) REFERENCES %s(%s)%s',
                (SELECT string_agg(quote_ident(x), ', ') FROM unnest(fk.cols) x), fk.ref_relid,
                (SELECT string_agg(quote_ident(x), ', ') FROM unnest(fk.ref_cols) x), fk.tail),
         fk.validated, 'pgmesh.foreign_keys'
    FROM pgmesh.foreign_keys fk;

-- ---------- shard moves and partitions with the new metadata ----------

-- Creates the foreign partition for one shard on the coordinator. A parent with UNIQUE /
-- PRIMARY KEY (held on the parent only) refuses foreign partitions, so those are dropped
-- for the attach and re-created (instant: the parent has no rows); a parent with dropped
-- columns gets a partition with the same attribute numbers (created with placeholders
-- that are dropped again), so routed plans keep the parent's layout.
CREATE OR REPLACE FUNCTION pgmesh._attach_shard(p_tbl regclass, p_modulus int, p_remainder int, p_group text, p_name name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  cons record;
  saved text[] := '{}';
  cols text;
  s text;
BEGIN
  FOR cons IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
               WHERE c.conrelid = p_tbl AND c.contype IN ('p', 'u') ORDER BY c.oid LOOP
    saved := saved || format('ALTER TABLE ONLY %s ADD CONSTRAINT %I %s', p_tbl, cons.conname, cons.def);
    EXECUTE format('ALTER TABLE ONLY %s DROP CONSTRAINT %I', p_tbl, cons.conname);
  END LOOP;
  FOR cons IN SELECT i.indexrelid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
               WHERE i.indrelid = p_tbl AND i.indisunique ORDER BY i.indexrelid LOOP
    saved := saved || cons.def;
    EXECUTE format('DROP INDEX %s', cons.indexrelid::regclass);
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND attisdropped) THEN
    EXECUTE format(
      'CREATE FOREIGN TABLE pgmesh_part.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s) '
      'SERVER %I OPTIONS (schema_name %L, table_name %L)',
      p_name, p_tbl, p_modulus, p_remainder, pgmesh._server(p_group), 'pgmesh_shards', p_name);
  ELSE
    SELECT string_agg(CASE WHEN a.attisdropped THEN format('pgmesh_dropped_%s int', a.attnum)
                           ELSE format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                       CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END) END,
                      ', ' ORDER BY a.attnum)
      INTO cols FROM pg_attribute a WHERE a.attrelid = p_tbl AND a.attnum > 0;
    EXECUTE format('CREATE FOREIGN TABLE pgmesh_part.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   p_name, cols, pgmesh._server(p_group), 'pgmesh_shards', p_name);
    FOR cons IN SELECT attnum FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND attisdropped LOOP
      EXECUTE format('ALTER FOREIGN TABLE pgmesh_part.%I DROP COLUMN pgmesh_dropped_%s', p_name, cons.attnum);
    END LOOP;
    FOR cons IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
                 WHERE c.conrelid = p_tbl AND c.contype = 'c' LOOP
      EXECUTE format('ALTER FOREIGN TABLE pgmesh_part.%I ADD CONSTRAINT %I %s', p_name, cons.conname, cons.def);
    END LOOP;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION pgmesh_part.%I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                   p_tbl, p_name, p_modulus, p_remainder);
  END IF;
  FOREACH s IN ARRAY saved LOOP
    EXECUTE s;
  END LOOP;
  PERFORM pgmesh._ddl_partition_owner(p_tbl);
END $$;

-- As in version 4, with the shard's remainder as a third template argument (%3$s), which
-- foreign keys between co-located tables use.
CREATE OR REPLACE FUNCTION pgmesh.move_shard_sync(p_move bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  m pgmesh.data_moves;
  pending int;
  c record;
BEGIN
  SELECT * INTO m FROM pgmesh.data_moves WHERE move_id = p_move FOR UPDATE;
  IF m.state IN ('ready', 'switched', 'done') THEN RETURN true; END IF;
  IF m.state <> 'copying' THEN
    RAISE EXCEPTION 'pgmesh: move % is %', p_move, m.state USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  pending := pgmesh._query(m.target_group, format(
    'SELECT count(*) FILTER (WHERE sr.srsubstate <> %L) + CASE WHEN count(*) = 0 THEN 1 ELSE 0 END '
    'FROM pg_subscription s JOIN pg_subscription_rel sr ON sr.srsubid = s.oid WHERE s.subname = %L',
    'r', pgmesh._move_name(p_move)))::int;
  IF pending > 0 THEN RETURN false; END IF;
  FOR c IN SELECT sh.shard_table, sh.remainder, sc.command FROM pgmesh.shard_commands sc
             JOIN pgmesh.distributed_tables d USING (relid)
             JOIN pgmesh.shards sh ON sh.relid = sc.relid AND sh.remainder = m.remainder
            WHERE d.colocation_id = m.colocation_id ORDER BY sc.relid, sc.seq LOOP
    PERFORM pgmesh._exec(m.target_group, format(c.command, format('pgmesh_shards.%I', c.shard_table), c.shard_table, c.remainder));
  END LOOP;
  UPDATE pgmesh.data_moves SET state = 'ready' WHERE move_id = p_move;
  RETURN true;
END $$;
