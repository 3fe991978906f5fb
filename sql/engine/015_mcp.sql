-- pgmesh engine, version 15: MCP clients (one role per AI agent) limited to namespaces by
-- row-level security on the coordinator's parents AND on every shard table, plus the
-- audit of MCP tool calls.
--
-- Policies: every table listed gets RLS and one permissive policy `pgmesh_open` (USING
-- true, TO PUBLIC), so roles that are not MCP clients see what their GRANTs allow, as
-- before. Each MCP client role gets four RESTRICTIVE policies (AND-ed with the open one):
--   mcp_<role>_select  FOR SELECT USING (namespace = ANY(read ∪ write))
--   mcp_<role>_insert  FOR INSERT WITH CHECK (namespace = ANY(write))
--   mcp_<role>_update  FOR UPDATE USING (namespace = ANY(write)) WITH CHECK (same)
--   mcp_<role>_delete  FOR DELETE USING (namespace = ANY(write))
-- The expressions are a built-in operator over a constant array, so postgres_fdw ships
-- them to the shard with the rest of the WHERE clause (ORDER BY ... LIMIT stays pushed).
-- On a worker the same policies sit on each shard table, so the role connecting to the
-- worker directly is held to the same namespaces. An MCP client role also gets its own
-- user mapping to every worker group (pgmesh.mcp_user_mapping: its own name and
-- password), so what it sends through the coordinator runs on the shard as that role,
-- under the shard's policies: PostgreSQL does not check RLS WITH CHECK for rows routed
-- to a foreign partition, and the PUBLIC mapping's superuser would bypass RLS on the
-- shard. Reads are filtered twice (the parent's policies, kept by the planner hook when
-- it routes to a partition, and the shard's).

CREATE TABLE IF NOT EXISTS pgmesh.mcp_clients (
  role_name  name PRIMARY KEY,
  read_ns    text[] NOT NULL,
  write_ns   text[] NOT NULL,
  tables     text[] NOT NULL,
  synced_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS pgmesh.mcp_audit (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  who         name NOT NULL,
  tool        text NOT NULL,
  namespace   text,
  rows        int,
  duration_ms double precision,
  ok          boolean NOT NULL,
  error_code  text
);
CREATE INDEX IF NOT EXISTS mcp_audit_who_at ON pgmesh.mcp_audit (who, at);

-- What MCP clients may call: a schema of its own, reachable only by members of
-- pgmesh_mcp_clients (the agent grants the membership to each MCP client role).
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgmesh_mcp_clients') THEN
    CREATE ROLE pgmesh_mcp_clients NOLOGIN;
  END IF;
END $$;
CREATE SCHEMA IF NOT EXISTS pgmesh_mcp;
REVOKE ALL ON SCHEMA pgmesh_mcp FROM PUBLIC;
GRANT USAGE ON SCHEMA pgmesh_mcp TO pgmesh_mcp_clients;

-- Audit rows, in batches (the server buffers them off the tool's path): p_rows is
-- [{tool, namespace, rows, durationMs, ok, error}]. `who` is the session's login role,
-- so a client cannot write rows in another's name.
CREATE OR REPLACE FUNCTION pgmesh_mcp.audit(p_rows jsonb)
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
  WITH ins AS (
    INSERT INTO pgmesh.mcp_audit (at, who, tool, namespace, rows, duration_ms, ok, error_code)
    SELECT coalesce((r->>'at')::timestamptz, now()), session_user, left(r->>'tool', 64),
           left(r->>'namespace', 256), (r->>'rows')::int, (r->>'durationMs')::float8,
           coalesce((r->>'ok')::boolean, false), left(r->>'error', 64)
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_rows) = 'array' THEN p_rows ELSE '[]' END) r
     LIMIT 10000
    RETURNING 1)
  SELECT count(*)::int FROM ins
$$;
REVOKE ALL ON FUNCTION pgmesh_mcp.audit(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgmesh_mcp.audit(jsonb) TO pgmesh_mcp_clients;

-- The engine's view of the cluster, read-only: groups, shards per group, running moves.
CREATE OR REPLACE FUNCTION pgmesh_mcp.cluster_status() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
  SELECT jsonb_build_object(
    'engineVersion', (SELECT max(version) FROM pgmesh.schema_version),
    'groups', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'name', g.group_name, 'state', g.state, 'members', cardinality(g.hosts),
        'shards', (SELECT count(*) FROM pgmesh.shards s WHERE s.group_name = g.group_name))
        ORDER BY g.group_name) FROM pgmesh.worker_groups g), '[]'),
    'distributedTables', (SELECT count(*) FROM pgmesh.distributed_tables),
    'activeMoves', (SELECT count(*) FROM pgmesh.data_moves WHERE state IN ('started', 'copying', 'ready', 'switched')))
$$;
REVOKE ALL ON FUNCTION pgmesh_mcp.cluster_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgmesh_mcp.cluster_status() TO pgmesh_mcp_clients;

-- `namespace = ANY ('{...}'::text[])` with every element quoted by quote_literal.
CREATE OR REPLACE FUNCTION pgmesh._mcp_in(p_ns text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('namespace = ANY (%L::text[])', coalesce(p_ns, '{}')::text)
$$;

-- The statements that put one table (a parent or a shard) in the desired state: RLS on,
-- every pgmesh policy dropped and created again from p_clients. Run in one transaction,
-- so a reader never sees the table without its policies.
CREATE OR REPLACE FUNCTION pgmesh._mcp_table_sql(p_table text, p_existing text[], p_clients jsonb)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  out text[] := ARRAY[format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table)];
  pol text;
  c jsonb;
  r text;
  rd text[];
  wr text[];
BEGIN
  FOREACH pol IN ARRAY coalesce(p_existing, '{}') LOOP
    out := out || format('DROP POLICY IF EXISTS %I ON %s', pol, p_table);
  END LOOP;
  out := out || format('CREATE POLICY pgmesh_open ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)', p_table);
  FOR c IN SELECT * FROM jsonb_array_elements(p_clients) LOOP
    r := c->>'role';
    PERFORM pgmesh._check_ident('role', r);
    rd := ARRAY(SELECT jsonb_array_elements_text(c->'read'));
    wr := ARRAY(SELECT jsonb_array_elements_text(c->'write'));
    out := out || format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR SELECT TO %I USING (%s)',
                         'mcp_' || r || '_select', p_table, r, pgmesh._mcp_in(ARRAY(SELECT DISTINCT x FROM unnest(rd || wr) x ORDER BY 1)));
    out := out || format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR INSERT TO %I WITH CHECK (%s)',
                         'mcp_' || r || '_insert', p_table, r, pgmesh._mcp_in(wr));
    out := out || format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR UPDATE TO %I USING (%s) WITH CHECK (%s)',
                         'mcp_' || r || '_update', p_table, r, pgmesh._mcp_in(wr), pgmesh._mcp_in(wr));
    out := out || format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR DELETE TO %I USING (%s)',
                         'mcp_' || r || '_delete', p_table, r, pgmesh._mcp_in(wr));
  END LOOP;
  RETURN array_to_string(out, '; ');
END $$;

-- Puts the policies of every MCP client (p_clients: [{role, read: [...], write: [...]}])
-- on the tables p_tables (distributed, with a `namespace` column): on the coordinator's
-- parents in this transaction, then on each worker group's shard tables in one remote
-- transaction per group. A client's role is created (NOLOGIN) where it is missing, so the
-- policies exist before the roles backend gives it LOGIN and GRANTs; a role that is no
-- longer a client loses LOGIN and its privileges on the tables (without policies, the
-- open policy would let it see every namespace). Records the clients in
-- pgmesh.mcp_clients. Idempotent.
CREATE OR REPLACE FUNCTION pgmesh.mcp_sync_policies(p_clients jsonb, p_tables regclass[])
RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  t regclass;
  st text;
  r text;
  g record;
  existing text[];
  stmts text[];
  roles text[];
  gone text[];
  n int := 0;
BEGIN
  IF jsonb_typeof(p_clients) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'pgmesh: MCP clients must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  roles := ARRAY(SELECT c->>'role' FROM jsonb_array_elements(p_clients) c ORDER BY 1);
  gone := ARRAY(SELECT role_name::text FROM pgmesh.mcp_clients WHERE role_name::text <> ALL (roles) ORDER BY 1);
  FOREACH r IN ARRAY roles LOOP
    PERFORM pgmesh._check_ident('role', r);
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
    EXECUTE format('GRANT pgmesh_mcp_clients TO %I', r);
  END LOOP;
  FOREACH t IN ARRAY p_tables LOOP
    IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = t) THEN
      RAISE EXCEPTION 'pgmesh: % is not a distributed table', t USING ERRCODE = 'wrong_object_type';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t AND attname = 'namespace' AND NOT attisdropped) THEN
      RAISE EXCEPTION 'pgmesh: % has no namespace column', t USING ERRCODE = 'undefined_column';
    END IF;
    SELECT coalesce(array_agg(polname::text), '{}') INTO existing FROM pg_policy
     WHERE polrelid = t AND (polname LIKE 'mcp\_%' OR polname = 'pgmesh_open');
    EXECUTE pgmesh._mcp_table_sql(t::text, existing, p_clients);
    FOREACH r IN ARRAY gone LOOP
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('REVOKE ALL ON TABLE %s FROM %I', t, r);
      END IF;
    END LOOP;
    n := n + 1;
  END LOOP;
  FOREACH r IN ARRAY gone LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('ALTER ROLE %I NOLOGIN', r);
      FOR g IN SELECT server_name FROM pgmesh.worker_groups LOOP
        EXECUTE format('DROP USER MAPPING IF EXISTS FOR %I SERVER %I', r, g.server_name);
      END LOOP;
    END IF;
  END LOOP;
  FOR g IN SELECT DISTINCT s.group_name FROM pgmesh.shards s WHERE s.relid = ANY (p_tables) ORDER BY 1 LOOP
    -- On the worker the existing pgmesh policies are dropped by a DO block (their names
    -- are known only there), missing client roles created, former ones shut out; then
    -- each shard table gets its statements. One string: one remote transaction.
    stmts := ARRAY[format($do$DO $x$ DECLARE r record; x text; BEGIN
      FOR r IN SELECT p.polname, c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'pgmesh_shards' AND (p.polname LIKE 'mcp\_%%' OR p.polname = 'pgmesh_open') LOOP
        EXECUTE format('DROP POLICY %%I ON pgmesh_shards.%%I', r.polname, r.relname);
      END LOOP;
      FOREACH x IN ARRAY %L::text[] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = x) THEN
          EXECUTE format('CREATE ROLE %%I NOLOGIN', x);
        END IF;
      END LOOP;
      FOREACH x IN ARRAY %L::text[] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = x) THEN
          EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA pgmesh_shards FROM %%I', x);
          EXECUTE format('ALTER ROLE %%I NOLOGIN', x);
        END IF;
      END LOOP; END $x$$do$, roles::text, gone::text)];
    FOR st IN SELECT s.shard_table::text FROM pgmesh.shards s
              WHERE s.relid = ANY (p_tables) AND s.group_name = g.group_name ORDER BY s.shard_table LOOP
      stmts := stmts || pgmesh._mcp_table_sql(format('pgmesh_shards.%I', st), '{}', p_clients);
      n := n + 1;
    END LOOP;
    PERFORM pgmesh._exec(g.group_name, array_to_string(stmts, '; '));
  END LOOP;
  DELETE FROM pgmesh.mcp_clients;
  INSERT INTO pgmesh.mcp_clients (role_name, read_ns, write_ns, tables)
  SELECT c->>'role', ARRAY(SELECT jsonb_array_elements_text(c->'read')),
         ARRAY(SELECT jsonb_array_elements_text(c->'write')),
         ARRAY(SELECT x::text FROM unnest(p_tables) x ORDER BY 1)
    FROM jsonb_array_elements(p_clients) c;
  INSERT INTO pgmesh.journal (op, detail)
  VALUES ('mcp_sync_policies', jsonb_build_object('clients', jsonb_array_length(p_clients), 'tables', n));
  RETURN n;
END $fn$;

-- Tables (coordinator parents and shard tables) whose RLS or pgmesh policy count is not
-- what pgmesh.mcp_clients says: [{location, table, problem}]. A shard a move created
-- since the last sync shows here (the agent syncs again); until then it has no GRANT for
-- the MCP roles either (roles are granted per shard table), so nothing is exposed.
CREATE OR REPLACE FUNCTION pgmesh.mcp_policy_problems(p_tables regclass[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  expected int := 1 + 4 * (SELECT count(*) FROM pgmesh.mcp_clients);
  out jsonb := '[]';
  t regclass;
  g record;
  bad text;
BEGIN
  FOREACH t IN ARRAY p_tables LOOP
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = t)
       OR (SELECT count(*) FROM pg_policy WHERE polrelid = t AND (polname LIKE 'mcp\_%' OR polname = 'pgmesh_open')) <> expected THEN
      out := out || jsonb_build_object('location', 'coordinator', 'table', t::text, 'problem', 'policies');
    END IF;
  END LOOP;
  FOR g IN SELECT s.group_name, array_agg(s.shard_table::text ORDER BY s.shard_table) AS tables
             FROM pgmesh.shards s WHERE s.relid = ANY (p_tables) GROUP BY 1 ORDER BY 1 LOOP
    bad := pgmesh._query(g.group_name, format(
      $q$SELECT coalesce(string_agg(t, ',' ORDER BY t), '') FROM unnest(%L::text[]) t
          LEFT JOIN pg_class c ON c.relname = t AND c.relnamespace = 'pgmesh_shards'::regnamespace
         WHERE c.oid IS NULL OR NOT c.relrowsecurity
            OR (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid
                 AND (p.polname LIKE 'mcp\_%%' OR p.polname = 'pgmesh_open')) <> %s$q$,
      g.tables::text, expected));
    IF bad <> '' THEN
      out := out || jsonb_build_object('location', g.group_name, 'table', bad, 'problem', 'policies');
    END IF;
  END LOOP;
  RETURN out;
END $$;

-- The user mapping of one MCP client role to every worker group: its own name and
-- password (the roles backend gives it the same password on every group), so the shard
-- sees the client's role, not the PUBLIC mapping's user. The password is a parameter,
-- never part of a logged statement.
CREATE OR REPLACE FUNCTION pgmesh.mcp_user_mapping(p_role text, p_password text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  g record;
  n int := 0;
BEGIN
  PERFORM pgmesh._check_ident('role', p_role);
  IF p_password IS NULL OR p_password = '' THEN
    RAISE EXCEPTION 'pgmesh: MCP client % needs a password for its user mapping', p_role
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR g IN SELECT server_name FROM pgmesh.worker_groups ORDER BY 1 LOOP
    EXECUTE format('DROP USER MAPPING IF EXISTS FOR %I SERVER %I', p_role, g.server_name);
    EXECUTE format('CREATE USER MAPPING FOR %I SERVER %I OPTIONS (user %L, password %L)',
                   p_role, g.server_name, p_role, p_password);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
