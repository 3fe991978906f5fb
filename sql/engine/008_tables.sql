-- pgmesh engine, version 9: tables by SQL. create_distributed_table with named arguments
-- (table_name, distribution_column, shard_count, colocate_with) whose parent shows the
-- table's constraints and indexes, undistribute_table, and reference tables that work on
-- PostgreSQL 17 (no CREATE FOREIGN TABLE ... LIKE) and whose writes reach every group.

-- The engine's own DDL is not propagated by the DDL hook.
SET LOCAL pgmesh.propagate_ddl = off;

-- ---------- reference tables ----------

-- Row text of the coordinator is parsed on the worker as the copy's row type, so every
-- type round-trips through its own text form; the settings below make that text
-- unambiguous whatever the session's DateStyle etc.
CREATE OR REPLACE FUNCTION pgmesh._ref_key_match(p_tbl regclass, p_copy text, p_row text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT string_agg(format('t.%1$I = (%2$L::%3$s).%1$I', a.attname, p_row, p_copy), ' AND ' ORDER BY u.ord)
       FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY u(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.attnum
      WHERE c.conrelid = p_tbl AND c.contype = 'p'),
    -- No primary key: one row whose text form (rendered by the worker) is the same.
    format('t.ctid = (SELECT t2.ctid FROM %1$s t2 WHERE t2::text = (%2$L::%1$s)::text LIMIT 1)', p_copy, p_row))
$$;

CREATE OR REPLACE FUNCTION pgmesh._ref_replicate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET datestyle = 'ISO, MDY' SET intervalstyle = 'postgres'
SET extra_float_digits = 3 SET bytea_output = 'hex' AS $$
DECLARE
  copy text;
  sql text;
  rows text[];
  cols text;
  g record;
BEGIN
  SELECT format('pgmesh_shards.%I', shard_table) INTO copy FROM pgmesh.reference_tables WHERE relid = TG_RELID;
  IF copy IS NULL THEN RETURN NULL; END IF;
  IF TG_OP = 'TRUNCATE' THEN
    sql := format('TRUNCATE %s', copy);
  ELSIF TG_LEVEL = 'STATEMENT' AND TG_OP = 'INSERT' THEN
    EXECUTE 'SELECT array_agg(n::text) FROM pgmesh_new_rows n' INTO rows;
    IF rows IS NULL THEN RETURN NULL; END IF;
    sql := format('INSERT INTO %1$s SELECT (x::%1$s).* FROM unnest(%2$L::text[]) x', copy, rows);
  ELSIF TG_OP = 'DELETE' THEN
    sql := format('DELETE FROM %s t WHERE %s', copy, pgmesh._ref_key_match(TG_RELID, copy, OLD::text));
  ELSE
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    sql := format('UPDATE %1$s t SET (%2$s) = (SELECT %2$s FROM (SELECT (%3$L::%1$s).*) n) WHERE %4$s',
                  copy, cols, NEW::text, pgmesh._ref_key_match(TG_RELID, copy, OLD::text));
  END IF;
  FOR g IN SELECT group_name FROM pgmesh.worker_groups ORDER BY group_name LOOP
    PERFORM pgmesh._remote(g.group_name, sql);
  END LOOP;
  RETURN NULL;
END $$;

-- The triggers that send every write of a reference table to its copies, in the
-- writer's transaction (remote transactions committed with it).
CREATE OR REPLACE FUNCTION pgmesh._ref_install_triggers(p_tbl regclass) RETURNS void
LANGUAGE plpgsql SET pgmesh.propagate_ddl = off AS $$
BEGIN
  EXECUTE format('DROP TRIGGER IF EXISTS pgmesh_ref_insert ON %s', p_tbl);
  EXECUTE format('DROP TRIGGER IF EXISTS pgmesh_ref_update ON %s', p_tbl);
  EXECUTE format('DROP TRIGGER IF EXISTS pgmesh_ref_delete ON %s', p_tbl);
  EXECUTE format('DROP TRIGGER IF EXISTS pgmesh_ref_truncate ON %s', p_tbl);
  EXECUTE format('CREATE TRIGGER pgmesh_ref_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS pgmesh_new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION pgmesh._ref_replicate()', p_tbl);
  EXECUTE format('CREATE TRIGGER pgmesh_ref_update AFTER UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION pgmesh._ref_replicate()', p_tbl);
  EXECUTE format('CREATE TRIGGER pgmesh_ref_delete AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION pgmesh._ref_replicate()', p_tbl);
  EXECUTE format('CREATE TRIGGER pgmesh_ref_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgmesh._ref_replicate()', p_tbl);
END $$;

DROP FUNCTION IF EXISTS pgmesh.sync_reference_table(regclass);
DROP FUNCTION IF EXISTS pgmesh.create_reference_table(regclass);

-- (Re)builds every group's copy from the coordinator's rows, in remote transactions that
-- commit with the caller's. A copy that distributed tables' foreign keys reference keeps
-- its rows (TRUNCATE would cascade to nothing and fail, as on a single PostgreSQL):
-- rows are replaced by key instead.
CREATE FUNCTION pgmesh.sync_reference_table(table_name regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET datestyle = 'ISO, MDY' SET intervalstyle = 'postgres'
SET extra_float_digits = 3 SET bytea_output = 'hex' SET pgmesh.propagate_ddl = off AS $$
DECLARE
  r pgmesh.reference_tables;
  g record;
  copy text;
  rows text[];
  n int := 0;
  referenced boolean;
BEGIN
  SELECT * INTO r FROM pgmesh.reference_tables WHERE relid = table_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: % is not a reference table', table_name USING ERRCODE = 'wrong_object_type';
  END IF;
  copy := format('pgmesh_shards.%I', r.shard_table);
  referenced := EXISTS (SELECT 1 FROM pgmesh.foreign_keys WHERE ref_relid = table_name);
  FOR g IN SELECT * FROM pgmesh.worker_groups ORDER BY group_name LOOP
    PERFORM pgmesh._remote(g.group_name, format('CREATE TABLE IF NOT EXISTS %s (%s)', copy, r.shard_ddl));
    IF referenced THEN
      PERFORM pgmesh._remote(g.group_name, format('DELETE FROM %s', copy));
    ELSE
      PERFORM pgmesh._remote(g.group_name, format('TRUNCATE %s', copy));
    END IF;
    FOR rows IN EXECUTE format('SELECT array_agg(t::text) FROM (SELECT t, (row_number() OVER ()) / 1000 AS b FROM %s t) s GROUP BY b', table_name) LOOP
      PERFORM pgmesh._remote(g.group_name, format('INSERT INTO %1$s SELECT (x::%1$s).* FROM unnest(%2$L::text[]) x', copy, rows));
    END LOOP;
    n := n + 1;
  END LOOP;
  UPDATE pgmesh.reference_tables SET synced_at = now() WHERE relid = table_name;
  RETURN n;
END $$;

-- A reference table stays a plain table on the coordinator (reads, writes and its own
-- constraints there) with a copy on every worker group, pgmesh_shards.<schema>_<table>_0,
-- kept current by triggers in the writers' transactions, for joins and foreign keys on
-- the workers.
CREATE FUNCTION pgmesh.create_reference_table(table_name regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE rel record;
BEGIN
  SELECT c.relname, n.nspname, c.relkind INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = table_name;
  IF rel.relkind <> 'r' OR EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = table_name) THEN
    RAISE EXCEPTION 'pgmesh: % is not a plain table', table_name USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint c JOIN pgmesh.distributed_tables d ON d.relid = c.confrelid
              WHERE c.conrelid = table_name AND c.contype = 'f') THEN
    RAISE EXCEPTION 'pgmesh: reference table % cannot reference a distributed table', table_name
      USING ERRCODE = 'feature_not_supported';
  END IF;
  INSERT INTO pgmesh.reference_tables (relid, shard_ddl, shard_table)
  VALUES (table_name, pgmesh._shard_ddl(table_name), pgmesh._shard_name(table_name, 0))
  ON CONFLICT (relid) DO NOTHING;
  PERFORM pgmesh._ref_install_triggers(table_name);
  INSERT INTO pgmesh.journal (op, detail) VALUES ('create_reference_table', jsonb_build_object('table', table_name::text));
  RETURN pgmesh.sync_reference_table(table_name);
END $$;

-- Reference tables made before this version get their triggers.
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT relid FROM pgmesh.reference_tables LOOP
    PERFORM pgmesh._ref_install_triggers(r.relid);
  END LOOP;
END $$;

-- ---------- distributed tables ----------

-- Grants of one table repeated on another (privileges are checked on the coordinator).
CREATE OR REPLACE FUNCTION pgmesh._copy_grants(p_from regclass, p_to regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE g record;
BEGIN
  FOR g IN SELECT a.privilege_type, a.grantee, a.is_grantable
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
            WHERE c.oid = p_from AND a.grantee <> c.relowner LOOP
    EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, p_to,
                   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
                   CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END $$;

DROP FUNCTION IF EXISTS pgmesh.create_distributed_table(regclass, text, int, regclass);

-- Turns a plain table into a distributed one (see version 3), now also: shard_count
-- defaults to the co-located table's (else 32); the parent shows the table's CHECK,
-- PRIMARY KEY / UNIQUE (parent only) and indexes, which the shards have; the table's
-- foreign keys to reference tables or co-located tables become engine foreign keys.
CREATE FUNCTION pgmesh.create_distributed_table(
  table_name regclass, distribution_column text, shard_count int DEFAULT NULL, colocate_with regclass DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  p_tbl regclass := table_name;
  p_col text := distribution_column;
  p_shard_count int := shard_count;
  p_colocate_with regclass := colocate_with;
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
  created text[] := '{}';
  r int;
  keep_cons record;
  cons_sql text[] := '{}';
  idx_forms jsonb[] := '{}';
  idx_sql text[] := '{}';
  fks record;
  fk_list jsonb := '[]';
  s text;
  f jsonb;
BEGIN
  IF EXISTS (SELECT 1 FROM pgmesh.distributed_tables d WHERE d.relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is already distributed', p_tbl USING ERRCODE = 'duplicate_object';
  END IF;
  IF p_shard_count IS NULL THEN
    SELECT cg.shard_count INTO p_shard_count FROM pgmesh.distributed_tables d
      JOIN pgmesh.colocation_groups cg USING (colocation_id) WHERE d.relid = p_colocate_with;
    p_shard_count := coalesce(p_shard_count, 32);
  END IF;
  -- Foreign keys to reference tables and co-located tables are carried over; the
  -- referenced tables must be so already.
  FOR fks IN SELECT c.oid, c.conname, c.confrelid::regclass AS ref, c.convalidated,
                    (SELECT array_agg(a.attname::text ORDER BY u.ord) FROM unnest(c.conkey) WITH ORDINALITY u(n, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n) AS cols,
                    (SELECT array_agg(a.attname::text ORDER BY u.ord) FROM unnest(c.confkey) WITH ORDINALITY u(n, ord)
                       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n) AS ref_cols,
                    pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c WHERE c.conrelid = p_tbl AND c.contype = 'f' LOOP
    IF NOT EXISTS (SELECT 1 FROM pgmesh.reference_tables WHERE relid = fks.ref)
       AND NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = fks.ref) THEN
      RAISE EXCEPTION 'pgmesh: % has foreign key % to %, which is neither a reference table nor distributed', p_tbl, fks.conname, fks.ref
        USING ERRCODE = 'feature_not_supported', HINT = 'Make the referenced table a reference table or distribute it first.';
    END IF;
    fk_list := fk_list || jsonb_build_object('name', fks.conname, 'ref', fks.ref::oid, 'cols', to_jsonb(fks.cols),
      'ref_cols', to_jsonb(fks.ref_cols), 'valid', fks.convalidated,
      'tail', replace(regexp_replace(fks.def, '^.* REFERENCES [^(]*\([^)]*\)', ''), ' NOT VALID', ''));
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = p_tbl AND contype = 'f') THEN
    RAISE EXCEPTION 'pgmesh: % is referenced by a foreign key; distribute the referencing table after it, or drop the key first', p_tbl
      USING ERRCODE = 'feature_not_supported';
  END IF;
  -- Validation as in version 3, without the foreign-key refusal (handled above).
  FOR fks IN SELECT c.conname FROM pg_constraint c WHERE c.conrelid = p_tbl AND c.contype = 'f' LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_tbl, fks.conname);
  END LOOP;
  PERFORM pgmesh._validate_distribute(p_tbl, p_col, p_shard_count, p_colocate_with);
  SELECT c.relname, n.nspname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_tbl;
  ddl := pgmesh._shard_ddl(p_tbl);
  SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
  -- The table's own constraints and indexes, re-created on the parent afterwards.
  FOR keep_cons IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
                    WHERE c.conrelid = p_tbl AND c.contype IN ('p', 'u') ORDER BY c.oid LOOP
    cons_sql := cons_sql || format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s', rel.nspname, rel.relname, keep_cons.conname, keep_cons.def);
  END LOOP;
  FOR keep_cons IN SELECT i.indexrelid, c.relname AS idxname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                    WHERE i.indrelid = p_tbl
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = p_tbl)
                    ORDER BY i.indexrelid LOOP
    f := pgmesh._ddl_index_form(keep_cons.indexrelid);
    idx_forms := idx_forms || f;
    idx_sql := idx_sql || format('CREATE %sINDEX %I ON %s%I.%I USING %s',
                                 CASE WHEN (f->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END, keep_cons.idxname,
                                 CASE WHEN (f->>'unique')::boolean THEN 'ONLY ' ELSE '' END,
                                 rel.nspname, rel.relname, f->>'tail');
  END LOOP;

  IF p_colocate_with IS NOT NULL THEN
    SELECT d.colocation_id INTO coloc FROM pgmesh.distributed_tables d WHERE d.relid = p_colocate_with;
  ELSE
    INSERT INTO pgmesh.colocation_groups (shard_count, dist_type)
    SELECT p_shard_count, atttypid FROM pg_attribute WHERE attrelid = p_tbl AND attname = p_col
    RETURNING colocation_id INTO coloc;
  END IF;
  SELECT array_agg(group_name ORDER BY group_name) INTO groups FROM pgmesh.worker_groups WHERE state = 'active';

  tmpname := left(rel.relname, 40) || '_pgmesh_local';
  EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', rel.nspname, rel.relname, tmpname);
  EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING COMMENTS INCLUDING CONSTRAINTS) PARTITION BY HASH (%I)',
                 rel.nspname, rel.relname, rel.nspname, tmpname, p_col);
  newtbl := format('%I.%I', rel.nspname, rel.relname)::regclass;
  FOR seq IN SELECT a.attname, pg_get_serial_sequence(format('%I.%I', rel.nspname, tmpname), a.attname) AS s
               FROM pg_attribute a WHERE a.attrelid = p_tbl AND a.attnum > 0 AND NOT a.attisdropped LOOP
    IF seq.s IS NOT NULL THEN
      EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', seq.s, newtbl, seq.attname);
    END IF;
  END LOOP;
  -- Privileges of the table carry over to the parent (checked there for every access).
  PERFORM pgmesh._copy_grants(p_tbl, newtbl);
  INSERT INTO pgmesh.distributed_tables (relid, dist_column, colocation_id, shard_ddl)
  VALUES (newtbl, p_col, coloc, ddl);

  BEGIN
    FOR r IN 0 .. p_shard_count - 1 LOOP
      IF p_colocate_with IS NOT NULL THEN
        SELECT sh.group_name INTO grp FROM pgmesh.shards sh WHERE sh.relid = p_colocate_with AND sh.remainder = r;
      ELSE
        grp := groups[1 + r % cardinality(groups)];
      END IF;
      shard := pgmesh._shard_name(newtbl, r);
      PERFORM pgmesh._exec(grp, format('CREATE TABLE pgmesh_shards.%I (%s)', shard, ddl));
      created := created || (grp || '/' || shard);
      -- Indexes before the rows: the rows go in through postgres_fdw, whose remote
      -- transactions stay open until the coordinator commits (a later CREATE INDEX over
      -- dblink would wait for them for ever).
      FOREACH f IN ARRAY idx_forms LOOP
        PERFORM pgmesh._exec(grp, format('CREATE %sINDEX ON pgmesh_shards.%I USING %s',
          CASE WHEN (f->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END, shard, f->>'tail'));
      END LOOP;
      PERFORM pgmesh._attach_shard(newtbl, p_shard_count, r, grp, shard);
      INSERT INTO pgmesh.shards (relid, modulus, remainder, group_name, shard_table, partition)
      VALUES (newtbl, p_shard_count, r, grp, shard, shard);
    END LOOP;
    PERFORM set_config('pgmesh.cross_group_writes', 'allow', true);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %I.%I', newtbl, cols, cols, rel.nspname, tmpname);
    PERFORM set_config('pgmesh.cross_group_writes', 'refuse', true);
    EXECUTE format('DROP TABLE %I.%I', rel.nspname, tmpname);
    FOREACH s IN ARRAY cons_sql LOOP EXECUTE s; END LOOP;
    FOREACH s IN ARRAY idx_sql LOOP EXECUTE s; END LOOP;
    FOREACH f IN ARRAY idx_forms LOOP
      INSERT INTO pgmesh.shard_commands (relid, command) VALUES (newtbl, pgmesh._ddl_index_command(f));
    END LOOP;
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
  FOR f IN SELECT v FROM jsonb_array_elements(fk_list) v LOOP
    PERFORM pgmesh._ddl_add_foreign_key(newtbl, f->>'name',
      ARRAY(SELECT jsonb_array_elements_text(f->'cols')), (f->>'ref')::oid::regclass,
      ARRAY(SELECT jsonb_array_elements_text(f->'ref_cols')), f->>'tail', NOT (f->>'valid')::boolean);
  END LOOP;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('create_distributed_table',
    jsonb_build_object('table', newtbl::text, 'column', p_col, 'shards', p_shard_count, 'colocation_id', coloc));
  RETURN coloc;
END $$;

-- Turns a distributed table back into a plain table on the coordinator: rows come back,
-- shards and engine metadata go; the table keeps its name, columns, defaults, CHECK,
-- PRIMARY KEY / UNIQUE and indexes. Refused while other distributed tables reference it.
CREATE OR REPLACE FUNCTION pgmesh.undistribute_table(table_name regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET pgmesh.propagate_ddl = off AS $$
DECLARE
  p_tbl regclass := table_name;
  rel record;
  tmp text;
  newtbl regclass;
  cols text;
  s text;
  stmts text[] := '{}';
  c record;
  t record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is not a distributed table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pgmesh.foreign_keys WHERE ref_relid = p_tbl AND relid <> p_tbl) THEN
    RAISE EXCEPTION 'pgmesh: % is referenced by foreign keys of distributed tables', p_tbl USING ERRCODE = 'dependent_objects_still_exist';
  END IF;
  SELECT cl.relname, n.nspname INTO rel FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE cl.oid = p_tbl;
  tmp := left(rel.relname, 40) || '_pgmesh_local';
  EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING COMMENTS INCLUDING CONSTRAINTS)',
                 rel.nspname, tmp, p_tbl);
  SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = p_tbl AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
  EXECUTE format('INSERT INTO %I.%I (%s) SELECT %s FROM %s', rel.nspname, tmp, cols, cols, p_tbl);
  FOR c IN SELECT k.conname, pg_get_constraintdef(k.oid) AS def FROM pg_constraint k
            WHERE k.conrelid = p_tbl AND k.contype IN ('p', 'u') ORDER BY k.oid LOOP
    stmts := stmts || format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', rel.nspname, rel.relname, c.conname, c.def);
  END LOOP;
  FOR c IN SELECT cl.relname AS idxname, pgmesh._ddl_index_form(i.indexrelid) AS f FROM pg_index i JOIN pg_class cl ON cl.oid = i.indexrelid
            WHERE i.indrelid = p_tbl
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = p_tbl) LOOP
    stmts := stmts || format('CREATE %sINDEX %I ON %I.%I USING %s', CASE WHEN (c.f->>'unique')::boolean THEN 'UNIQUE ' ELSE '' END,
                             c.idxname, rel.nspname, rel.relname, c.f->>'tail');
  END LOOP;
  FOR c IN SELECT fk.* FROM pgmesh.foreign_keys fk WHERE fk.relid = p_tbl LOOP
    stmts := stmts || format('ALTER TABLE %I.%I ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)%s', rel.nspname, rel.relname, c.conname,
      (SELECT string_agg(quote_ident(x), ', ') FROM unnest(c.cols) x), c.ref_relid,
      (SELECT string_agg(quote_ident(x), ', ') FROM unnest(c.ref_cols) x), c.tail);
  END LOOP;
  PERFORM pgmesh._copy_grants(p_tbl, format('%I.%I', rel.nspname, tmp)::regclass);
  FOR t IN SELECT * FROM pgmesh._ddl_targets(p_tbl) LOOP
    PERFORM pgmesh._remote(t.group_name, format('DROP TABLE IF EXISTS pgmesh_shards.%I', t.shard_table));
  END LOOP;
  DELETE FROM pgmesh.foreign_keys WHERE relid = p_tbl;
  DELETE FROM pgmesh.shards WHERE relid = p_tbl;
  DELETE FROM pgmesh.distributed_tables WHERE relid = p_tbl;
  EXECUTE format('DROP TABLE %s', p_tbl);
  EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', rel.nspname, tmp, rel.relname);
  FOREACH s IN ARRAY stmts LOOP EXECUTE s; END LOOP;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('undistribute_table', jsonb_build_object('table', format('%I.%I', rel.nspname, rel.relname)));
END $$;
