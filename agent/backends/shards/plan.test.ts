import { describe, expect, it } from 'vitest';
import { planShards } from './plan.js';
import { rebalanceMoves } from './rebalance.js';
import { scramMatches, scramVerifier } from './scram.js';
import { columnSql, indexSuffix, indexTemplate, parseHnswCommand } from './sql.js';
import type { DesiredShards, DesiredTable, LiveIndex, LiveShard, LiveShards } from './types.js';

const entries: DesiredTable = {
  kind: 'distributed',
  name: 'memory.memory_entries',
  schema: 'memory',
  table: 'memory_entries',
  columns: [
    { name: 'namespace', type: 'text', notNull: true },
    { name: 'embedding', type: 'vector(64)', notNull: false },
  ],
  primaryKey: ['namespace'],
  distributionColumn: 'namespace',
  shardCount: 4,
};
const vi = {
  manifestName: 'e',
  table: 'memory.memory_entries',
  column: 'embedding',
  opclass: 'vector_cosine_ops' as const,
  m: 16,
  efConstruction: 64,
};

function desired(over: Partial<DesiredShards> = {}): DesiredShards {
  return {
    engineVersion: 6,
    groups: ['w1', 'w2'].map((g) => ({
      name: g,
      manifestName: g,
      hosts: [`h-${g}`],
      port: 5432,
      dbname: 'pgmesh',
      remove: false,
    })),
    tables: [entries],
    vectorIndexes: [vi],
    roles: [],
    ...over,
  };
}

function shards(groups: string[]): LiveShard[] {
  return groups.map((g, r) => ({
    table: 'memory.memory_entries',
    colocationId: 1,
    remainder: r,
    group: g,
    shardTable: `memory_memory_entries_${r}`,
    bytes: 1000,
  }));
}

function indexes(s: LiveShard[], over: Partial<LiveIndex> = {}): LiveIndex[] {
  return s.map((x) => ({
    group: x.group,
    shardTable: x.shardTable,
    name: `${x.shardTable}_${indexSuffix(vi)}`,
    valid: true,
    method: 'hnsw',
    column: 'embedding',
    opclass: 'vector_cosine_ops',
    m: 16,
    efConstruction: 64,
    ...over,
  }));
}

function live(over: Partial<LiveShards> = {}): LiveShards {
  const s = shards(['w1', 'w2', 'w1', 'w2']);
  return {
    engineVersion: 6,
    groups: ['w1', 'w2'].map((g) => ({
      name: g,
      hosts: [`h-${g}`],
      port: 5432,
      dbname: 'pgmesh',
      state: 'active' as const,
      reachable: true,
    })),
    tables: [
      {
        name: 'memory.memory_entries',
        kind: 'distributed',
        columns: [
          { name: 'namespace', type: 'text', notNull: true },
          { name: 'embedding', type: 'vector(64)', notNull: false },
        ],
        distributionColumn: 'namespace',
        colocationId: 1,
        shardCount: 4,
      },
    ],
    shards: s,
    indexes: indexes(s),
    moves: [],
    shardCommands: [{ table: 'memory.memory_entries', command: indexTemplate(vi) }],
    roles: [],
    ...over,
  };
}

const kinds = (d: DesiredShards, l: LiveShards) =>
  planShards(d, l).actions.map((a) => a.action.kind);

describe('planShards', () => {
  it('plans nothing when the engine matches, and every drift item is in sync', () => {
    const plan = planShards(desired(), live());
    expect(plan.actions).toEqual([]);
    expect(plan.refusals).toEqual([]);
    expect(plan.drift.map((d) => d.state)).toEqual([
      'in-sync',
      'in-sync',
      'in-sync',
      'in-sync',
      'in-sync',
    ]);
  });

  it('from an empty engine: install, groups, tables (co-location target first), indexes, roles', () => {
    const patterns: DesiredTable = {
      ...entries,
      name: 'memory.patterns',
      table: 'patterns',
      colocateWith: 'memory.memory_entries',
    };
    const plan = planShards(
      desired({
        tables: [patterns, entries],
        roles: [{ name: 'app', preset: 'app', passwordSecret: 's' }],
      }),
      {
        ...live(),
        engineVersion: 0,
        groups: [],
        tables: [],
        shards: [],
        indexes: [],
        shardCommands: [],
      },
    );
    expect(plan.actions.map((a) => a.summary)).toEqual([
      'install engine SQL (version 0 → 6)',
      'register worker group w1 (hosts h-w1)',
      'register worker group w2 (hosts h-w2)',
      'create distributed table memory.memory_entries (4 shards by namespace)',
      'create distributed table memory.patterns (4 shards by namespace, co-located with memory.memory_entries)',
      'build index on memory.memory_entries.embedding on every shard (hnsw vector_cosine_ops, m 16, ef_construction 64)',
      'create role app (preset app)',
    ]);
    const role = plan.actions.at(-1)?.action;
    expect(role).toMatchObject({
      kind: 'ensure-role',
      setPassword: true,
      tablePrivileges: {
        'memory.memory_entries': ['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
        'memory.patterns': ['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
      },
      schemaPrivileges: { memory: ['USAGE'] },
    });
  });

  it('registers a new group and moves shards onto it, each move its own data-moving action', () => {
    const d = desired();
    d.groups.push({
      name: 'w3',
      manifestName: 'w3',
      hosts: ['h-w3'],
      port: 5432,
      dbname: 'pgmesh',
      remove: false,
    });
    const s = shards(['w1', 'w2', 'w1', 'w2', 'w1', 'w2']);
    const plan = planShards(
      d,
      live({ shards: s, indexes: indexes(s), tables: [{ ...live().tables[0]!, shardCount: 6 }] }),
    );
    expect(plan.actions.map((a) => a.action.kind)).toEqual([
      'register-group',
      'move-shard',
      'move-shard',
    ]);
    const moves = plan.actions.slice(1);
    expect(moves.every((a) => a.risk === 'data-moving')).toBe(true);
    expect(moves[0]?.key).not.toBe(moves[1]?.key);
    expect(moves.map((a) => a.summary)).toEqual([
      'move shard 4 of memory.memory_entries w1 → w3 (move 1/2, 1 KiB)',
      'move shard 5 of memory.memory_entries w2 → w3 (move 2/2, 1 KiB)',
    ]);
    // Same input, same keys (the journal runs each step once).
    expect(
      planShards(d, live({ shards: s, indexes: indexes(s) })).actions.map((a) => a.key),
    ).toEqual(planShards(d, live({ shards: s, indexes: indexes(s) })).actions.map((a) => a.key));
  });

  it('rebalances an uneven spread, and drains a group marked for removal, then unregisters it', () => {
    expect(
      rebalanceMoves(shards(['w1', 'w1', 'w1', 'w2']), ['w1', 'w2'], []).map(
        (m) => `${m.remainder}:${m.source}>${m.target}`,
      ),
    ).toEqual(['2:w1>w2']);
    const d = desired();
    d.groups[1]!.remove = true;
    expect(kinds(d, live())).toEqual(['drain-group', 'move-shard', 'move-shard', 'remove-group']);
  });

  it('resumes a running move before planning any other', () => {
    const l = live({
      moves: [
        { moveId: 7, colocationId: 1, remainder: 2, source: 'w1', target: 'w2', state: 'copying' },
      ],
      shards: shards(['w1', 'w1', 'w1', 'w1']),
    });
    l.indexes = indexes(l.shards);
    expect(kinds(desired(), l)).toEqual(['resume-move']);
  });

  it('rebuilds an index whose m differs: new index first, old one dropped after', () => {
    const s = live().shards;
    const plan = planShards(desired(), live({ indexes: indexes(s, { m: 8, name: 'old' }) }));
    expect(plan.actions).toHaveLength(1);
    const a = plan.actions[0]!;
    expect(a.risk).toBe('disruptive');
    expect(a.action).toMatchObject({ kind: 'build-index', reason: 'parameters' });
    if (a.action.kind !== 'build-index') throw new Error('kind');
    expect(a.action.shards[0]).toEqual({
      shardTable: 'memory_memory_entries_0',
      dropBefore: [],
      build: true,
      dropAfter: ['old'],
    });
    expect(a.action.template).toMatch(
      /^CREATE INDEX CONCURRENTLY IF NOT EXISTS %2\$s_embedding_hnsw_[0-9a-f]{8} ON %1\$s USING hnsw \("embedding" vector_cosine_ops\) WITH \(m = 16, ef_construction = 64\)$/,
    );
    const item = plan.drift.find((x) => x.resource === 'index/memory.memory_entries.embedding');
    expect(item?.differences[0]).toEqual({ field: 'm', desired: 16, live: [8] });
  });

  it('rebuilds an INVALID index: dropped before the build', () => {
    const l = live();
    l.indexes[1] = { ...l.indexes[1]!, valid: false };
    const [a] = planShards(desired(), l).actions;
    expect(a?.action).toMatchObject({
      kind: 'build-index',
      reason: 'invalid',
      shards: [
        {
          shardTable: 'memory_memory_entries_1',
          dropBefore: [l.indexes[1]!.name],
          build: true,
          dropAfter: [],
        },
      ],
    });
  });

  it('refuses to alter a live table whose shard count or columns differ', () => {
    const plan = planShards(desired({ tables: [{ ...entries, shardCount: 8 }] }), live());
    expect(plan.refusals).toEqual([
      {
        resource: 'table/memory.memory_entries',
        reason: expect.stringContaining('shardCount') as unknown as string,
      },
    ]);
    expect(plan.drift.find((d) => d.resource === 'table/memory.memory_entries')?.state).toBe(
      'blocked',
    );
  });

  it('updates a role whose privileges or password drifted, never showing a password', () => {
    const d = desired({ roles: [{ name: 'reader', preset: 'readonly', passwordSecret: 'sec' }] });
    const l = live({
      roles: [
        {
          name: 'reader',
          canLogin: true,
          createRole: false,
          passwordSecret: 'sec',
          passwordInSync: false,
          tablePrivileges: { 'memory.memory_entries': ['SELECT', 'UPDATE'] },
          schemaPrivileges: { memory: ['USAGE'] },
        },
      ],
    });
    const plan = planShards(d, l);
    expect(plan.actions.map((a) => a.summary)).toEqual([
      'update role reader (preset readonly: password, tablePrivileges)',
    ]);
    expect(plan.actions[0]?.action).toMatchObject({
      setPassword: true,
      tablePrivileges: { 'memory.memory_entries': ['SELECT'] },
    });
    expect(plan.drift.find((x) => x.resource === 'role/reader')?.differences[0]).toEqual({
      field: 'password',
      desired: 'from secret sec',
      live: 'differs',
    });
  });

  it('keys a step by the live state it corrects: the same drift found again is a new step', () => {
    const from = (hosts: string[]) =>
      live({ groups: live().groups.map((g) => (g.name === 'w1' ? { ...g, hosts } : g)) });
    const first = planShards(desired(), from(['old-a'])).actions[0];
    const again = planShards(desired(), from(['old-b'])).actions[0];
    const retry = planShards(desired(), from(['old-a'])).actions[0];
    expect(first?.action.kind).toBe('update-group');
    expect(again?.action.kind).toBe('update-group');
    expect(again?.key).not.toBe(first?.key);
    expect(retry?.key).toBe(first?.key);
  });

  it('refuses a group registered in the engine but absent from the manifest', () => {
    const d = desired();
    d.groups.pop();
    const plan = planShards(d, live());
    expect(plan.refusals.map((r) => r.resource)).toEqual(['group/w2']);
  });
});

describe('sql and scram helpers', () => {
  it('builds column SQL with quoted names and literal defaults', () => {
    expect(
      columnSql({ name: 'metadata', type: 'jsonb', notNull: true, defaultValue: "{}'; DROP" }),
    ).toBe(`"metadata" jsonb NOT NULL DEFAULT '{}''; DROP'::jsonb`);
    expect(() => columnSql({ name: 'x; DROP', type: 'text', notNull: false })).toThrow(
      /not allowed/,
    );
    expect(() => columnSql({ name: 'x', type: 'text); DROP', notNull: false })).toThrow(
      /not allowed/,
    );
  });

  it('reads back HNSW commands, the engine’s own included', () => {
    expect(
      parseHnswCommand(
        'CREATE INDEX IF NOT EXISTS %2$s_embedding_hnsw ON %1$s USING hnsw (embedding vector_cosine_ops)',
      ),
    ).toEqual({
      column: 'embedding',
      opclass: 'vector_cosine_ops',
      m: 16,
      efConstruction: 64,
    });
    expect(parseHnswCommand(indexTemplate({ ...vi, m: 24 }))).toEqual({
      column: 'embedding',
      opclass: 'vector_cosine_ops',
      m: 24,
      efConstruction: 64,
    });
  });

  it('makes and checks SCRAM verifiers', () => {
    const v = scramVerifier('pw');
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(scramMatches(v, 'pw')).toBe(true);
    expect(scramMatches(v, 'other')).toBe(false);
  });
});
