-- pgmesh engine, version 10: atomic writes across worker groups (two-phase commit),
-- READ COMMITTED on the shards, distribution-key UPDATEs (images/pgnode/ext/xact.c,
-- modify.c; docs/engine.md, "Transactions").

-- The commit record of a transaction that prepared on several groups: written in that
-- transaction's pre-commit (after every group prepared), so its commit is the decision.
-- pgmesh.recover_prepared_xacts() deletes a record once no group holds its gids.
CREATE TABLE pgmesh.xact_commits (
  xid xid8 PRIMARY KEY,
  gids text[] NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now()
);

-- The new key of a row an UPDATE moves between shards; NULL raises not_null_violation.
CREATE FUNCTION pgmesh.key_not_null(anyelement, text) RETURNS anyelement
  AS 'pgmesh', 'pgmesh_key_not_null' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Sets a worker group up for the coordinator's transactions: checks that the group can
-- prepare (max_prepared_transactions > 0) and loads pgmesh (it turns postgres_fdw's
-- COMMIT into PREPARE TRANSACTION and its REPEATABLE READ into READ COMMITTED); creates
-- the intent table and its trigger on the group and the intent foreign table here; marks
-- the server's sessions as coordinator sessions with a lock timeout (a deadlock across
-- groups has no detector: it ends after p_lock_timeout).
CREATE OR REPLACE FUNCTION pgmesh._setup_worker_xact(p_group text, p_lock_timeout text DEFAULT '5s')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  srv text := pgmesh._server(p_group);
  mpx int;
  preload text;
  opts text;
  wanted text := format('-c pgmesh.fdw_session=on -c pgmesh.fdw_lock_timeout=%s', p_lock_timeout);
BEGIN
  IF srv IS NULL THEN
    RAISE EXCEPTION 'pgmesh: worker group % does not exist', quote_literal(p_group);
  END IF;
  IF p_lock_timeout !~ '^[0-9]+(ms|s|min)?$' THEN
    RAISE EXCEPTION 'pgmesh: lock timeout % is not a duration (e.g. 5s)', quote_literal(p_lock_timeout)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  mpx := pgmesh._query(p_group, 'SELECT current_setting(''max_prepared_transactions'')')::int;
  IF mpx < 1 THEN
    RAISE EXCEPTION 'pgmesh: worker group % has max_prepared_transactions = %', p_group, mpx
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Transactions writing to several worker groups commit with two-phase commit, which needs prepared transactions on every group.',
            HINT = 'Set max_prepared_transactions on the group (as high as max_connections) and restart it.';
  END IF;
  preload := pgmesh._query(p_group, 'SELECT current_setting(''shared_preload_libraries'')');
  IF preload !~ '(^|[ ,])"?pgmesh"?($|[ ,])' THEN
    RAISE EXCEPTION 'pgmesh: worker group % does not load pgmesh (shared_preload_libraries = %)', p_group, quote_literal(preload)
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Add pgmesh to shared_preload_libraries on the group and restart it.';
  END IF;
  PERFORM pgmesh._exec(p_group, $w$
    CREATE SCHEMA IF NOT EXISTS pgmesh_shards;
    CREATE OR REPLACE FUNCTION pgmesh_shards.prepare_on_commit(text) RETURNS void
      AS 'pgmesh', 'pgmesh_prepare_on_commit' LANGUAGE C STRICT;
    CREATE TABLE IF NOT EXISTS pgmesh_shards.xact_intent (gid text NOT NULL);
    CREATE OR REPLACE FUNCTION pgmesh_shards.xact_intent_trigger() RETURNS trigger
      LANGUAGE plpgsql AS $t$ BEGIN PERFORM pgmesh_shards.prepare_on_commit(NEW.gid); RETURN NULL; END $t$;
    CREATE OR REPLACE TRIGGER xact_intent BEFORE INSERT ON pgmesh_shards.xact_intent
      FOR EACH ROW EXECUTE FUNCTION pgmesh_shards.xact_intent_trigger();
  $w$);
  EXECUTE format('CREATE FOREIGN TABLE IF NOT EXISTS pgmesh_part.%I (gid text) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                 'intent_' || srv, srv, 'pgmesh_shards', 'xact_intent');
  EXECUTE format('GRANT INSERT ON pgmesh_part.%I TO PUBLIC', 'intent_' || srv);
  GRANT USAGE ON SCHEMA pgmesh_part TO PUBLIC;

  SELECT substr(o, 9) INTO opts FROM pg_foreign_server s, unnest(s.srvoptions) o
   WHERE s.srvname = srv AND o LIKE 'options=%';
  IF opts IS NULL THEN
    EXECUTE format('ALTER SERVER %I OPTIONS (ADD options %L)', srv, wanted);
  ELSIF opts <> wanted THEN
    opts := btrim(regexp_replace(opts, '-c pgmesh\.fdw_[a-z_]+=[^ ]*', '', 'g'));
    EXECUTE format('ALTER SERVER %I OPTIONS (SET options %L)', srv, btrim(opts || ' ' || wanted));
  END IF;
END $$;

-- add_worker_group as before, then the two-phase commit setup.
ALTER FUNCTION pgmesh.add_worker_group(text, text[], int, text, text, text, int, int)
  RENAME TO _add_worker_group_v2;
CREATE FUNCTION pgmesh.add_worker_group(
  p_group text, p_hosts text[], p_port int DEFAULT 5432, p_dbname text DEFAULT 'postgres',
  p_user text DEFAULT NULL, p_password text DEFAULT NULL,
  p_batch_size int DEFAULT 500, p_fetch_size int DEFAULT 1000)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE srv text;
BEGIN
  srv := pgmesh._add_worker_group_v2(p_group, p_hosts, p_port, p_dbname, p_user, p_password,
                                     p_batch_size, p_fetch_size);
  PERFORM pgmesh._setup_worker_xact(p_group);
  RETURN srv;
END $$;

-- Prepared transactions of this database on every group, with what recovery decides:
-- 'commit' (the coordinator transaction committed: its record or its status says so),
-- 'pending' (still in progress: between prepare and commit), 'rollback' (it aborted or
-- the coordinator crashed before committing).
CREATE OR REPLACE FUNCTION pgmesh.in_doubt_xacts()
RETURNS TABLE (group_name text, gid text, prepared_at timestamptz, coordinator_xid xid8, decision text)
LANGUAGE plpgsql AS $$
DECLARE
  g record;
  p record;
  st text;
BEGIN
  FOR g IN SELECT w.group_name, w.server_name FROM pgmesh.worker_groups w ORDER BY 1 LOOP
    FOR p IN SELECT * FROM public.dblink(g.server_name,
        $q$SELECT gid, prepared FROM pg_prepared_xacts
            WHERE gid LIKE 'pgmesh\_%' AND database = current_database() ORDER BY prepared$q$)
        AS t(gid text, prepared timestamptz) LOOP
      group_name := g.group_name;
      gid := p.gid;
      prepared_at := p.prepared;
      coordinator_xid := split_part(p.gid, '_', 2)::xid8;
      IF EXISTS (SELECT 1 FROM pgmesh.xact_commits c WHERE c.xid = coordinator_xid) THEN
        decision := 'commit';
      ELSE
        BEGIN
          st := pg_xact_status(coordinator_xid);
        EXCEPTION WHEN OTHERS THEN
          st := NULL;  -- from a future this coordinator never had: it was never committed here
        END;
        decision := CASE st WHEN 'in progress' THEN 'pending' WHEN 'committed' THEN 'commit' ELSE 'rollback' END;
      END IF;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $$;

-- Resolves every prepared transaction that is not pending; idempotent (one resolved
-- meanwhile by its own backend reports the error and changes nothing). Journaled.
-- p_min_age leaves younger ones to the backend committing them (the recovery worker,
-- images/pgnode/ext/recover.c, passes pgmesh.recovery_min_age).
CREATE OR REPLACE FUNCTION pgmesh.recover_prepared_xacts(p_min_age interval DEFAULT '0 s')
RETURNS TABLE (group_name text, gid text, action text, error text)
LANGUAGE plpgsql AS $$
DECLARE
  known xid8[];
  listed xid8[] := '{}';
  d record;
BEGIN
  -- Records committed before the groups are listed: their prepares came before, so a
  -- gid that is not listed was resolved.
  SELECT coalesce(array_agg(c.xid), '{}') INTO known FROM pgmesh.xact_commits c;
  FOR d IN SELECT * FROM pgmesh.in_doubt_xacts() LOOP
    listed := listed || d.coordinator_xid;
    CONTINUE WHEN d.decision = 'pending' OR d.prepared_at > now() - p_min_age;
    group_name := d.group_name;
    gid := d.gid;
    action := d.decision;
    error := NULL;
    BEGIN
      PERFORM public.dblink_exec(pgmesh._server(d.group_name),
        format('%s PREPARED %L', CASE d.decision WHEN 'commit' THEN 'COMMIT' ELSE 'ROLLBACK' END, d.gid));
    EXCEPTION WHEN OTHERS THEN
      error := SQLERRM;
    END;
    INSERT INTO pgmesh.journal (op, detail) VALUES ('recover_prepared_xact',
      jsonb_build_object('group', d.group_name, 'gid', d.gid, 'action', d.decision, 'error', error));
    RETURN NEXT;
  END LOOP;
  DELETE FROM pgmesh.xact_commits c WHERE c.xid = ANY (known) AND NOT (c.xid = ANY (listed));
END $$;

-- The engine's own row moves restore the default mode afterwards, not 'refuse'.
DO $$
DECLARE f regprocedure;
BEGIN
  FOREACH f IN ARRAY ARRAY['pgmesh.create_distributed_table(regclass,text,int,regclass)'::regprocedure,
                           'pgmesh.sync_reference_table(regclass)'::regprocedure] LOOP
    EXECUTE replace(pg_get_functiondef(f),
                    $r$set_config('pgmesh.cross_group_writes', 'refuse', true)$r$,
                    $r$set_config('pgmesh.cross_group_writes', 'two_phase', true)$r$);
  END LOOP;
END $$;

DO $$
DECLARE g text;
BEGIN
  FOR g IN SELECT group_name FROM pgmesh.worker_groups ORDER BY 1 LOOP
    PERFORM pgmesh._setup_worker_xact(g);
  END LOOP;
END $$;
