-- pgmesh engine, version 4: online shard moves (logical replication between workers)
-- and rebalancing. A move handles one shard index of a co-location group: the shards
-- of every co-located table with that remainder move together.
--
-- Steps (each its own coordinator transaction; the journal row in pgmesh.data_moves
-- carries the state, so a restarted driver resumes):
--   move_shard_start   -> 'copying'  shard tables + marker on target, publication on
--                                    source, subscription on target (initial copy)
--   move_shard_sync    -> 'ready'    once the copy is done; replays shard_commands
--                                    (HNSW indexes) on the new shards
--   move_shard_switch  -> 'switched' locks the parents, writes a marker row on the
--                                    source, waits until it arrives on the target (all
--                                    earlier commits applied), re-points the partitions
--   move_shard_finish  -> 'done'     drops subscription (and its slot), publication,
--                                    old shard tables, markers
--   move_shard_cleanup -> 'cleaned'  abandons an unswitched move, leaving nothing behind
-- pgmesh.move_shard (a procedure) runs them all; agent/engine/move-shard.ts is the
-- agent's driver of the same steps.

CREATE OR REPLACE FUNCTION pgmesh._move_name(p_move bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'pgmesh_move_' || p_move $$;

CREATE OR REPLACE FUNCTION pgmesh.move_shard_start(p_tbl regclass, p_remainder int, p_target text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  coloc int;
  src text;
  mid bigint;
  nm text;
  s record;
  tables text := '';
BEGIN
  SELECT colocation_id INTO coloc FROM pgmesh.distributed_tables WHERE relid = p_tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: % is not a distributed table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  SELECT group_name INTO src FROM pgmesh.shards WHERE relid = p_tbl AND remainder = p_remainder;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: % has no shard with remainder %', p_tbl, p_remainder USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pgmesh.worker_groups WHERE group_name = p_target AND state = 'active') THEN
    RAISE EXCEPTION 'pgmesh: target worker group % does not exist or is draining', quote_literal(p_target)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF src = p_target THEN
    RAISE EXCEPTION 'pgmesh: shard % of % is already on %', p_remainder, p_tbl, p_target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pgmesh.data_moves WHERE state IN ('started', 'copying', 'ready', 'switched')) THEN
    RAISE EXCEPTION 'pgmesh: another shard move is running' USING ERRCODE = 'object_in_use';
  END IF;
  INSERT INTO pgmesh.data_moves (colocation_id, remainder, source_group, target_group, state)
  VALUES (coloc, p_remainder, src, p_target, 'started') RETURNING move_id INTO mid;
  nm := pgmesh._move_name(mid);

  FOR s IN SELECT sh.shard_table, d.shard_ddl FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
            WHERE d.colocation_id = coloc AND sh.remainder = p_remainder ORDER BY sh.shard_table LOOP
    PERFORM pgmesh._exec(p_target, format('DROP TABLE IF EXISTS pgmesh_shards.%I', s.shard_table));
    PERFORM pgmesh._exec(p_target, format('CREATE TABLE pgmesh_shards.%I (%s)', s.shard_table, s.shard_ddl));
    tables := tables || format('pgmesh_shards.%I, ', s.shard_table);
  END LOOP;
  PERFORM pgmesh._exec(src, format('CREATE TABLE IF NOT EXISTS pgmesh_shards.%I (n int PRIMARY KEY)', nm || '_marker'));
  PERFORM pgmesh._exec(p_target, format('CREATE TABLE IF NOT EXISTS pgmesh_shards.%I (n int PRIMARY KEY)', nm || '_marker'));
  PERFORM pgmesh._exec(src, format('CREATE PUBLICATION %I FOR TABLE %s pgmesh_shards.%I', nm, tables, nm || '_marker'));
  PERFORM pgmesh._exec(p_target, format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I WITH (slot_name = %L)',
                                       nm, pgmesh._conninfo(src), nm, nm));
  UPDATE pgmesh.data_moves SET state = 'copying' WHERE move_id = mid;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('move_shard_start',
    jsonb_build_object('move_id', mid, 'table', p_tbl::text, 'remainder', p_remainder, 'from', src, 'to', p_target));
  RETURN mid;
END $$;

-- True once the initial copy is done and the shard commands ran on the new shards.
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
  FOR c IN SELECT sh.shard_table, sc.command FROM pgmesh.shard_commands sc
             JOIN pgmesh.distributed_tables d USING (relid)
             JOIN pgmesh.shards sh ON sh.relid = sc.relid AND sh.remainder = m.remainder
            WHERE d.colocation_id = m.colocation_id ORDER BY sc.relid, sc.seq LOOP
    PERFORM pgmesh._exec(m.target_group, format(c.command, format('pgmesh_shards.%I', c.shard_table), c.shard_table));
  END LOOP;
  UPDATE pgmesh.data_moves SET state = 'ready' WHERE move_id = p_move;
  RETURN true;
END $$;

-- The switch: one coordinator transaction holding ACCESS EXCLUSIVE on the co-located
-- parents (writes and reads through the coordinator wait, for the pause measured here).
CREATE OR REPLACE FUNCTION pgmesh.move_shard_switch(p_move bigint, p_timeout interval DEFAULT '30 seconds')
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
  m pgmesh.data_moves;
  nm text := pgmesh._move_name(p_move);
  t0 timestamptz;
  deadline timestamptz;
  s record;
  pause double precision;
BEGIN
  SELECT * INTO m FROM pgmesh.data_moves WHERE move_id = p_move FOR UPDATE;
  IF m.state <> 'ready' THEN
    RAISE EXCEPTION 'pgmesh: move % is %, not ready', p_move, m.state USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM set_config('lock_timeout', '10s', true);
  FOR s IN SELECT relid FROM pgmesh.distributed_tables WHERE colocation_id = m.colocation_id ORDER BY relid LOOP
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', s.relid);
  END LOOP;
  t0 := clock_timestamp();
  deadline := t0 + p_timeout;
  PERFORM pgmesh._exec(m.source_group, format('INSERT INTO pgmesh_shards.%I VALUES (1) ON CONFLICT DO NOTHING', nm || '_marker'));
  WHILE pgmesh._query(m.target_group, format('SELECT count(*) FROM pgmesh_shards.%I', nm || '_marker'))::int = 0 LOOP
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'pgmesh: move % did not catch up within %', p_move, p_timeout USING ERRCODE = 'query_canceled';
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
  FOR s IN SELECT sh.* FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
            WHERE d.colocation_id = m.colocation_id AND sh.remainder = m.remainder LOOP
    EXECUTE format('ALTER TABLE %s DETACH PARTITION pgmesh_part.%I', s.relid, s.partition);
    EXECUTE format('DROP FOREIGN TABLE pgmesh_part.%I', s.partition);
    PERFORM pgmesh._attach_shard(s.relid, s.modulus, s.remainder, m.target_group, s.partition);
    UPDATE pgmesh.shards SET group_name = m.target_group WHERE shard_id = s.shard_id;
  END LOOP;
  pause := extract(epoch FROM clock_timestamp() - t0) * 1000;
  UPDATE pgmesh.data_moves SET state = 'switched', switched_at = clock_timestamp(), pause_ms = pause
   WHERE move_id = p_move;
  RETURN pause;
END $$;

-- Removes the replication objects of a move on both groups (each step tolerant of the
-- object being gone), and the marker tables.
CREATE OR REPLACE FUNCTION pgmesh._drop_move_objects(m pgmesh.data_moves) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE nm text := pgmesh._move_name(m.move_id);
BEGIN
  IF pgmesh._query(m.target_group, format('SELECT count(*) FROM pg_subscription WHERE subname = %L', nm))::int > 0 THEN
    PERFORM pgmesh._exec(m.target_group, format('ALTER SUBSCRIPTION %I DISABLE', nm));
    PERFORM pgmesh._exec(m.target_group, format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', nm));
    PERFORM pgmesh._exec(m.target_group, format('DROP SUBSCRIPTION %I', nm));
  END IF;
  -- The walsender may still hold the slot for a moment after the subscription is gone.
  FOR i IN 1 .. 100 LOOP
    EXIT WHEN pgmesh._query(m.source_group, format(
      'SELECT count(*) FROM (SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %L AND active_pid IS NOT NULL) t', nm))::int = 0;
    PERFORM pg_sleep(0.05);
  END LOOP;
  PERFORM pgmesh._query(m.source_group, format(
    'SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = %L', nm));
  PERFORM pgmesh._exec(m.source_group, format('DROP PUBLICATION IF EXISTS %I', nm));
  PERFORM pgmesh._exec(m.source_group, format('DROP TABLE IF EXISTS pgmesh_shards.%I', nm || '_marker'));
  PERFORM pgmesh._exec(m.target_group, format('DROP TABLE IF EXISTS pgmesh_shards.%I', nm || '_marker'));
END $$;

CREATE OR REPLACE FUNCTION pgmesh.move_shard_finish(p_move bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  m pgmesh.data_moves;
  s record;
BEGIN
  SELECT * INTO m FROM pgmesh.data_moves WHERE move_id = p_move FOR UPDATE;
  IF m.state = 'done' THEN RETURN; END IF;
  IF m.state <> 'switched' THEN
    RAISE EXCEPTION 'pgmesh: move % is %, not switched', p_move, m.state USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM pgmesh._drop_move_objects(m);
  FOR s IN SELECT sh.shard_table FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
            WHERE d.colocation_id = m.colocation_id AND sh.remainder = m.remainder LOOP
    PERFORM pgmesh._exec(m.source_group, format('DROP TABLE IF EXISTS pgmesh_shards.%I', s.shard_table));
  END LOOP;
  UPDATE pgmesh.data_moves SET state = 'done', finished_at = now() WHERE move_id = p_move;
END $$;

-- Abandons a move that has not switched: the shards stay where they were, the copies on
-- the target and every replication object are dropped. A switched move is finished.
CREATE OR REPLACE FUNCTION pgmesh.move_shard_cleanup(p_move bigint, p_error text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  m pgmesh.data_moves;
  s record;
BEGIN
  SELECT * INTO m FROM pgmesh.data_moves WHERE move_id = p_move FOR UPDATE;
  IF NOT FOUND OR m.state IN ('done', 'cleaned') THEN RETURN coalesce(m.state, 'unknown'); END IF;
  IF m.state = 'switched' THEN
    PERFORM pgmesh.move_shard_finish(p_move);
    RETURN 'done';
  END IF;
  PERFORM pgmesh._drop_move_objects(m);
  FOR s IN SELECT sh.shard_table FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
            WHERE d.colocation_id = m.colocation_id AND sh.remainder = m.remainder LOOP
    PERFORM pgmesh._exec(m.target_group, format('DROP TABLE IF EXISTS pgmesh_shards.%I', s.shard_table));
  END LOOP;
  UPDATE pgmesh.data_moves SET state = 'cleaned', finished_at = now(), error = p_error WHERE move_id = p_move;
  RETURN 'cleaned';
END $$;

-- Cleans every unfinished move (after a crash of the driver).
CREATE OR REPLACE FUNCTION pgmesh.cleanup_moves() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  m record;
  n int := 0;
BEGIN
  FOR m IN SELECT move_id FROM pgmesh.data_moves WHERE state IN ('started', 'copying', 'ready', 'switched') LOOP
    PERFORM pgmesh.move_shard_cleanup(m.move_id, 'cleaned up by pgmesh.cleanup_moves');
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- The whole move from SQL: CALL pgmesh.move_shard('t', 3, 'w2'); outside a transaction
-- block (it commits between steps). On error, call pgmesh.move_shard_cleanup(move_id).
CREATE OR REPLACE PROCEDURE pgmesh.move_shard(p_tbl regclass, p_remainder int, p_target text,
                                              p_timeout interval DEFAULT '10 minutes')
LANGUAGE plpgsql AS $$
DECLARE
  mid bigint;
  deadline timestamptz := clock_timestamp() + p_timeout;
BEGIN
  mid := pgmesh.move_shard_start(p_tbl, p_remainder, p_target);
  COMMIT;
  WHILE NOT pgmesh.move_shard_sync(mid) LOOP
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'pgmesh: move % did not finish its copy within %', mid, p_timeout;
    END IF;
    COMMIT;
    PERFORM pg_sleep(0.2);
  END LOOP;
  COMMIT;
  PERFORM pgmesh.move_shard_switch(mid);
  COMMIT;
  PERFORM pgmesh.move_shard_finish(mid);
  COMMIT;
END $$;

-- Moves that even out shard indexes per co-location group over the active groups
-- (and empty draining groups): greedy, from the fullest to the emptiest group.
CREATE OR REPLACE FUNCTION pgmesh.rebalance_plan()
RETURNS TABLE (colocation_id int, table_name regclass, remainder int, source_group text, target_group text)
LANGUAGE plpgsql AS $$
DECLARE
  cg record;
  cnt jsonb;
  srcg text;
  dstg text;
  r int;
  anchor regclass;
BEGIN
  FOR cg IN SELECT c.colocation_id, min(d.relid::oid)::regclass AS anchor
              FROM pgmesh.colocation_groups c JOIN pgmesh.distributed_tables d USING (colocation_id)
             GROUP BY c.colocation_id ORDER BY c.colocation_id LOOP
    anchor := cg.anchor;
    IF to_regclass('pg_temp.pgmesh_plan') IS NULL THEN
      CREATE TEMP TABLE pgmesh_plan (rem int, grp text) ON COMMIT DROP;
    END IF;
    TRUNCATE pgmesh_plan;
    INSERT INTO pgmesh_plan SELECT s.remainder, s.group_name FROM pgmesh.shards s WHERE s.relid = anchor;
    LOOP
      -- Shards on draining groups go first.
      SELECT p.grp, min(p.rem) INTO srcg, r FROM pgmesh_plan p JOIN pgmesh.worker_groups g ON g.group_name = p.grp
       WHERE g.state = 'draining' GROUP BY p.grp LIMIT 1;
      SELECT g.group_name INTO dstg FROM pgmesh.worker_groups g LEFT JOIN pgmesh_plan p ON p.grp = g.group_name
       WHERE g.state = 'active' GROUP BY g.group_name ORDER BY count(p.rem), g.group_name LIMIT 1;
      IF srcg IS NULL THEN
        SELECT p.grp INTO srcg FROM pgmesh_plan p GROUP BY p.grp
         HAVING count(*) > 1 + (SELECT count(p2.rem) FROM pgmesh_plan p2 WHERE p2.grp = dstg)
         ORDER BY count(*) DESC, p.grp LIMIT 1;
        EXIT WHEN srcg IS NULL OR dstg IS NULL;
        SELECT max(p.rem) INTO r FROM pgmesh_plan p WHERE p.grp = srcg;
      END IF;
      EXIT WHEN dstg IS NULL;
      UPDATE pgmesh_plan SET grp = dstg WHERE rem = r;
      colocation_id := cg.colocation_id; table_name := anchor; remainder := r;
      source_group := srcg; target_group := dstg;
      RETURN NEXT;
      srcg := NULL;
    END LOOP;
  END LOOP;
END $$;

CREATE OR REPLACE PROCEDURE pgmesh.rebalance()
LANGUAGE plpgsql AS $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT * FROM pgmesh.rebalance_plan() LOOP
    CALL pgmesh.move_shard(p.table_name, p.remainder, p.target_group);
  END LOOP;
END $$;
