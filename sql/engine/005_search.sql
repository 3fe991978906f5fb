-- pgmesh engine, version 5: vector search helper.
--
-- Plain SQL on the parent is the fast path (the planner hook routes a fixed namespace to
-- its shard and pushes ORDER BY ... LIMIT k to every shard otherwise). vector_search is
-- the same query built safely for callers that prefer a function: identifiers are
-- checked against the catalog and quoted, values are parameters.
CREATE OR REPLACE FUNCTION pgmesh.vector_search(
  p_tbl regclass, p_query vector, p_k int DEFAULT 10, p_key text DEFAULT NULL,
  p_column text DEFAULT 'embedding')
RETURNS TABLE (row_data jsonb, distance double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  dcol name;
BEGIN
  SELECT dist_column INTO dcol FROM pgmesh.distributed_tables WHERE relid = p_tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pgmesh: % is not a distributed table', p_tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_tbl AND attname = p_column AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'pgmesh: column % of % does not exist', quote_ident(p_column), p_tbl USING ERRCODE = 'undefined_column';
  END IF;
  IF p_k IS NULL OR p_k < 1 OR p_k > 10000 THEN
    RAISE EXCEPTION 'pgmesh: k must be between 1 and 10000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_key IS NULL THEN
    RETURN QUERY EXECUTE format(
      'SELECT to_jsonb(t) - %L, t.%I <=> $1 FROM %s t ORDER BY t.%I <=> $1 LIMIT %s',
      p_column, p_column, p_tbl, p_column, p_k) USING p_query;
  ELSE
    RETURN QUERY EXECUTE format(
      'SELECT to_jsonb(t) - %L, t.%I <=> $1 FROM %s t WHERE t.%I = $2 ORDER BY t.%I <=> $1 LIMIT %s',
      p_column, p_column, p_tbl, dcol, p_column, p_k) USING p_query, p_key;
  END IF;
END $$;
