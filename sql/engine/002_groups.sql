-- pgmesh engine, version 2: helpers and worker groups.

-- Identifiers pgmesh accepts for distributed objects: no quotes, semicolons or spaces.
CREATE OR REPLACE FUNCTION pgmesh._check_ident(what text, v text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF v IS NULL OR v !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'pgmesh: % name % is not allowed (letters, digits and _ only, at most 63)', what, quote_literal(coalesce(v, 'NULL'))
      USING ERRCODE = 'invalid_name';
  END IF;
END $$;

CREATE OR REPLACE FUNCTION pgmesh._server(p_group text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT server_name FROM pgmesh.worker_groups WHERE group_name = p_group $$;

-- Runs a command on a worker group (its primary), through dblink over the group's
-- postgres_fdw server and user mapping. Autocommits on the worker.
CREATE OR REPLACE FUNCTION pgmesh._exec(p_group text, p_sql text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE srv text := pgmesh._server(p_group);
BEGIN
  IF srv IS NULL THEN
    RAISE EXCEPTION 'pgmesh: worker group % does not exist', quote_literal(p_group);
  END IF;
  PERFORM public.dblink_exec(srv, p_sql);
END $$;

-- One scalar from a worker group.
CREATE OR REPLACE FUNCTION pgmesh._query(p_group text, p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
  SELECT t.v INTO v FROM public.dblink(pgmesh._server(p_group), p_sql) AS t(v text);
  RETURN v;
END $$;

-- libpq conninfo of a group for connections between workers (logical replication).
CREATE OR REPLACE FUNCTION pgmesh._conninfo(p_group text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  g pgmesh.worker_groups;
  u text;
  pw text;
BEGIN
  SELECT * INTO g FROM pgmesh.worker_groups WHERE group_name = p_group;
  SELECT (SELECT substr(o, 6) FROM unnest(um.umoptions) o WHERE o LIKE 'user=%'),
         (SELECT substr(o, 10) FROM unnest(um.umoptions) o WHERE o LIKE 'password=%')
    INTO u, pw
    FROM pg_user_mappings um WHERE um.srvname = g.server_name AND um.usename = 'public';
  RETURN format('host=%s port=%s dbname=%s user=%s target_session_attrs=read-write',
                array_to_string(g.hosts, ','), g.port, g.dbname, coalesce(u, current_user))
         || CASE WHEN pw IS NULL THEN '' ELSE
              ' password=''' || replace(replace(pw, '\', '\\'), '''', '\''') || '''' END;
END $$;

-- Registers a worker group: postgres_fdw server (every member host, read-write target,
-- batching, async, pgvector operators shippable), a PUBLIC user mapping, and on the
-- group: the shard schema, pgvector, and iterative HNSW scans for filtered search.
CREATE OR REPLACE FUNCTION pgmesh.add_worker_group(
  p_group text, p_hosts text[], p_port int DEFAULT 5432, p_dbname text DEFAULT 'postgres',
  p_user text DEFAULT NULL, p_password text DEFAULT NULL,
  p_batch_size int DEFAULT 500, p_fetch_size int DEFAULT 1000)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  srv text := 'pgmesh_' || p_group;
  h text;
  existing pgmesh.worker_groups;
  opts text;
BEGIN
  IF p_group IS NULL OR p_group !~ '^[a-z][a-z0-9_]{0,39}$' THEN
    RAISE EXCEPTION 'pgmesh: worker group name % is not allowed (lower-case letters, digits, _)', quote_literal(coalesce(p_group, 'NULL'))
      USING ERRCODE = 'invalid_name';
  END IF;
  IF p_hosts IS NULL OR cardinality(p_hosts) = 0 THEN
    RAISE EXCEPTION 'pgmesh: worker group % needs at least one host', p_group;
  END IF;
  FOREACH h IN ARRAY p_hosts LOOP
    IF h !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$' THEN
      RAISE EXCEPTION 'pgmesh: host name % is not allowed', quote_literal(h) USING ERRCODE = 'invalid_name';
    END IF;
  END LOOP;
  PERFORM pgmesh._check_ident('database', p_dbname);
  IF p_user IS NOT NULL THEN PERFORM pgmesh._check_ident('user', p_user); END IF;

  SELECT * INTO existing FROM pgmesh.worker_groups WHERE group_name = p_group;
  IF FOUND THEN
    EXECUTE format('ALTER SERVER %I OPTIONS (SET host %L, SET port %L, SET dbname %L)',
                   srv, array_to_string(p_hosts, ','), p_port::text, p_dbname);
    UPDATE pgmesh.worker_groups SET hosts = p_hosts, port = p_port, dbname = p_dbname
     WHERE group_name = p_group;
  ELSE
    EXECUTE format(
      'CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS ('
      'host %L, port %L, dbname %L, target_session_attrs %L, batch_size %L, fetch_size %L, '
      'async_capable %L, extensions %L)',
      srv, array_to_string(p_hosts, ','), p_port::text, p_dbname, 'read-write',
      p_batch_size::text, p_fetch_size::text, 'true', 'vector');
    INSERT INTO pgmesh.worker_groups (group_name, hosts, port, dbname, server_name)
    VALUES (p_group, p_hosts, p_port, p_dbname, srv);
  END IF;

  EXECUTE format('DROP USER MAPPING IF EXISTS FOR PUBLIC SERVER %I', srv);
  opts := format('user %L', coalesce(p_user, current_user));
  IF p_password IS NOT NULL THEN opts := opts || format(', password %L', p_password); END IF;
  EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (%s)', srv, opts);

  PERFORM pgmesh._exec(p_group, 'CREATE SCHEMA IF NOT EXISTS pgmesh_shards');
  PERFORM pgmesh._exec(p_group, 'CREATE EXTENSION IF NOT EXISTS vector');
  -- strict_order: rows must come back in distance order (the coordinator merges them).
  PERFORM pgmesh._exec(p_group, format(
    'LOAD %L; ALTER DATABASE %I SET hnsw.iterative_scan = %L', 'vector', p_dbname, 'strict_order'));
  INSERT INTO pgmesh.journal (op, detail)
  VALUES ('add_worker_group', jsonb_build_object('group', p_group, 'hosts', to_jsonb(p_hosts)));
  RETURN srv;
END $$;

-- A group may be removed only when it holds no shard; use rebalance (mark it 'draining'
-- with pgmesh.drain_worker_group) first.
CREATE OR REPLACE FUNCTION pgmesh.remove_worker_group(p_group text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgmesh.worker_groups WHERE group_name = p_group) THEN
    RETURN;
  END IF;
  SELECT count(*) INTO n FROM pgmesh.shards WHERE group_name = p_group;
  IF n > 0 THEN
    RAISE EXCEPTION 'pgmesh: worker group % still holds % shard(s); drain and rebalance it first', p_group, n
      USING ERRCODE = 'object_in_use';
  END IF;
  EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', pgmesh._server(p_group));
  DELETE FROM pgmesh.worker_groups WHERE group_name = p_group;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('remove_worker_group', jsonb_build_object('group', p_group));
END $$;

CREATE OR REPLACE FUNCTION pgmesh.drain_worker_group(p_group text) RETURNS void
LANGUAGE sql AS $$ UPDATE pgmesh.worker_groups SET state = 'draining' WHERE group_name = p_group $$;
