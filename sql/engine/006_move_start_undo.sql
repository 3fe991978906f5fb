-- pgmesh engine, version 6: a shard move that fails to start leaves nothing on the workers.
--
-- move_shard_start runs in one coordinator transaction, but its steps on the workers
-- (shard tables and a marker on the target, a marker and the publication on the source,
-- the subscription on the target) go through dblink and do not roll back with it. Seen
-- in the e2e suite: CREATE SUBSCRIPTION failed with "could not establish connection"
-- right after a new group joined; the move's journal row rolled back, and the source kept
-- publication pgmesh_move_1 and its marker table for ever (the next try was move 2).
-- Now the start undoes its worker steps before it re-raises the error. Each undo step is
-- tolerant of the object being gone and of the group being unreachable (the error that
-- made the start fail may be that very group).

CREATE OR REPLACE FUNCTION pgmesh._undo_move_start(p_move bigint, p_coloc int, p_remainder int,
                                                   p_source text, p_target text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m pgmesh.data_moves;
  s record;
BEGIN
  m.move_id := p_move;
  m.source_group := p_source;
  m.target_group := p_target;
  BEGIN
    PERFORM pgmesh._drop_move_objects(m);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgmesh: could not drop the replication objects of move %: %', p_move, SQLERRM;
  END;
  FOR s IN SELECT sh.shard_table FROM pgmesh.shards sh JOIN pgmesh.distributed_tables d USING (relid)
            WHERE d.colocation_id = p_coloc AND sh.remainder = p_remainder LOOP
    BEGIN
      PERFORM pgmesh._exec(p_target, format('DROP TABLE IF EXISTS pgmesh_shards.%I', s.shard_table));
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgmesh: could not drop the copy of % on %: %', s.shard_table, p_target, SQLERRM;
    END;
  END LOOP;
END $$;

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

  BEGIN
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
  EXCEPTION WHEN OTHERS THEN
    PERFORM pgmesh._undo_move_start(mid, coloc, p_remainder, src, p_target);
    RAISE;
  END;
  UPDATE pgmesh.data_moves SET state = 'copying' WHERE move_id = mid;
  INSERT INTO pgmesh.journal (op, detail) VALUES ('move_shard_start',
    jsonb_build_object('move_id', mid, 'table', p_tbl::text, 'remainder', p_remainder, 'from', src, 'to', p_target));
  RETURN mid;
END $$;
