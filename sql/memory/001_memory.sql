-- pgmesh built-in memory schema: pgmesh.create_memory_schema(dims, shard_count) creates
-- schema `memory` with memory_entries and patterns (co-located, by namespace),
-- graph_nodes (by namespace, co-located with them) and trajectories (by id), each with
-- an embedding vector(dims) and an HNSW (vector_cosine_ops) index on every shard.
-- Idempotent: tables that are already distributed are left alone.
CREATE OR REPLACE FUNCTION pgmesh.create_memory_schema(p_dims int DEFAULT 384, p_shard_count int DEFAULT 32)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text;
  hnsw constant text := 'CREATE INDEX IF NOT EXISTS %2$s_embedding_hnsw ON %1$s USING hnsw (embedding vector_cosine_ops)';
BEGIN
  IF p_dims IS NULL OR p_dims < 1 OR p_dims > 16000 THEN
    RAISE EXCEPTION 'pgmesh: vector dimension must be between 1 and 16000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  CREATE SCHEMA IF NOT EXISTS memory;
  EXECUTE format($f$CREATE TABLE IF NOT EXISTS memory.memory_entries (
    namespace text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), key text,
    content text NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', embedding vector(%s),
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, id))$f$, p_dims);
  EXECUTE format($f$CREATE TABLE IF NOT EXISTS memory.patterns (
    namespace text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), name text NOT NULL,
    description text, pattern_type text, confidence real NOT NULL DEFAULT 0.5,
    usage_count int NOT NULL DEFAULT 0, metadata jsonb NOT NULL DEFAULT '{}', embedding vector(%s),
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, id))$f$, p_dims);
  EXECUTE format($f$CREATE TABLE IF NOT EXISTS memory.graph_nodes (
    namespace text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), label text NOT NULL,
    kind text, properties jsonb NOT NULL DEFAULT '{}', embedding vector(%s),
    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, id))$f$, p_dims);
  EXECUTE format($f$CREATE TABLE IF NOT EXISTS memory.trajectories (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY, namespace text NOT NULL, task text,
    steps jsonb NOT NULL DEFAULT '[]', outcome text, reward real, embedding vector(%s),
    created_at timestamptz NOT NULL DEFAULT now())$f$, p_dims);

  IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = 'memory.memory_entries'::regclass) THEN
    PERFORM pgmesh.create_distributed_table('memory.memory_entries', 'namespace', p_shard_count);
  END IF;
  FOREACH t IN ARRAY ARRAY['patterns', 'graph_nodes'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = format('memory.%I', t)::regclass) THEN
      PERFORM pgmesh.create_distributed_table(format('memory.%I', t)::regclass, 'namespace', p_shard_count,
                                              'memory.memory_entries');
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pgmesh.distributed_tables WHERE relid = 'memory.trajectories'::regclass) THEN
    PERFORM pgmesh.create_distributed_table('memory.trajectories', 'id', p_shard_count);
  END IF;
  FOREACH t IN ARRAY ARRAY['memory_entries', 'patterns', 'graph_nodes', 'trajectories'] LOOP
    PERFORM pgmesh.run_on_shards(format('memory.%I', t)::regclass, hnsw);
  END LOOP;
END $$;
