import { describe, expect, it } from 'vitest';
import { staleness } from './plan-analyze.js';
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
    mcpClients: [],
    mcpTables: [],
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

/** A third worker group as the desired state lists it once the manifest adds it. */
function groupW3() {
  return {
    name: 'w3',
    manifestName: 'w3',
    hosts: ['h-w3'],
    port: 5432,
    dbname: 'pgmesh',
    remove: false,
  };
}

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

  it('shows prepared transactions a crash left as drift and resolves them; pending ones are left alone', () => {
    const plan = planShards(
      desired(),
      live({
        inDoubt: [
          { group: 'w1', gid: 'pgmesh_700_1', decision: 'commit', ageSeconds: 12 },
          { group: 'w2', gid: 'pgmesh_700_2', decision: 'commit', ageSeconds: 12 },
          { group: 'w1', gid: 'pgmesh_701_1', decision: 'pending', ageSeconds: 0 },
        ],
      }),
    );
    expect(plan.actions.map((a) => a.action)).toEqual([
      {
        kind: 'recover-prepared',
        transactions: [
          { group: 'w1', gid: 'pgmesh_700_1', decision: 'commit' },
          { group: 'w2', gid: 'pgmesh_700_2', decision: 'commit' },
        ],
      },
    ]);
    expect(plan.actions[0]?.summary).toMatch(/resolve 2 prepared transaction\(s\).*commit 2/);
    const d = plan.drift.find((x) => x.resource === 'engine/in-doubt');
    expect(d?.state).toBe('drifted');
    expect(d?.differences[0]).toEqual({ field: 'prepared transactions', desired: 0, live: 2 });
    expect(planShards(desired(), live({ inDoubt: [] })).actions).toEqual([]);
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
    d.groups.push(groupW3());
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

  it('leaves columns a migration added to the migration, and refuses a declared column changed', () => {
    const base = live();
    const table = base.tables.find((x) => x.name === 'memory.memory_entries')!;
    const added = {
      ...table,
      columns: [...table.columns, { name: 'status', type: 'text', notNull: true }],
    };
    const withAdded = { ...base, tables: base.tables.map((x) => (x === table ? added : x)) };
    const plan = planShards(desired({ tables: [entries] }), withAdded);
    expect(plan.refusals).toEqual([]);
    expect(plan.drift.find((d) => d.resource === 'table/memory.memory_entries')?.state).toBe(
      'in-sync',
    );
    const renamed = {
      ...table,
      columns: table.columns.map((c, i) => (i === 1 ? { ...c, name: c.name + '_renamed' } : c)),
    };
    const withRenamed = { ...base, tables: base.tables.map((x) => (x === table ? renamed : x)) };
    const refused = planShards(desired({ tables: [entries] }), withRenamed);
    expect(refused.refusals).toEqual([
      {
        resource: 'table/memory.memory_entries',
        reason: expect.stringContaining('columns') as unknown as string,
      },
    ]);
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

describe('roles on every worker group', () => {
  const reader = { name: 'reader', preset: 'readonly' as const, passwordSecret: 'sec' };
  const onCoordinator = {
    name: 'reader',
    canLogin: true,
    createRole: false,
    passwordSecret: 'sec',
    passwordInSync: true,
    tablePrivileges: { 'memory.memory_entries': ['SELECT'] },
    schemaPrivileges: { memory: ['USAGE'] },
  };
  const onGroup = (group: string, over: Record<string, unknown> = {}) => ({
    name: 'reader',
    canLogin: true,
    createRole: false,
    sameVerifier: true,
    tablePrivileges: Object.fromEntries(
      live()
        .shards.filter((s) => s.group === group)
        .map((s) => [s.shardTable, ['SELECT']]),
    ),
    schemaPrivileges: ['USAGE'],
    ...over,
  });
  function withGroupRoles(roles: Record<string, unknown[] | undefined>): LiveShards {
    const l = live({ roles: [onCoordinator] });
    l.groups = l.groups.map((g) => ({
      ...g,
      tables: l.shards.filter((s) => s.group === g.name).map((s) => s.shardTable),
      ...(roles[g.name] ? { roles: roles[g.name] as never } : {}),
    }));
    return l;
  }

  it('plans nothing when every group has the role with its preset on its shards', () => {
    const plan = planShards(
      desired({ roles: [reader] }),
      withGroupRoles({ w1: [onGroup('w1')], w2: [onGroup('w2')] }),
    );
    expect(plan.actions).toEqual([]);
    expect(plan.drift.filter((d) => d.resource.startsWith('role/')).map((d) => d.state)).toEqual([
      'in-sync',
      'in-sync',
      'in-sync',
    ]);
  });

  it('creates a missing role on a group with its preset on that group’s shards only', () => {
    const plan = planShards(
      desired({ roles: [reader] }),
      withGroupRoles({ w1: [], w2: [onGroup('w2')] }),
    );
    expect(plan.actions.map((a) => a.summary)).toEqual([
      'create role reader on worker group w1 (preset readonly)',
    ]);
    expect(plan.actions[0]?.action).toEqual({
      kind: 'ensure-group-role',
      group: 'w1',
      role: 'reader',
      preset: 'readonly',
      create: true,
      setPassword: true,
      createRole: false,
      tablePrivileges: {
        memory_memory_entries_0: ['SELECT'],
        memory_memory_entries_2: ['SELECT'],
      },
      schemaPrivileges: ['USAGE'],
      changes: ['create'],
    });
    expect(plan.actions[0]?.key).toMatch(/^shards:ensure-group-role:reader@w1:/);
  });

  it('revokes extra privileges and copies a different verifier; never shows one', () => {
    const plan = planShards(
      desired({ roles: [reader] }),
      withGroupRoles({
        w1: [
          onGroup('w1', {
            sameVerifier: false,
            tablePrivileges: {
              memory_memory_entries_0: ['INSERT', 'SELECT', 'UPDATE'],
              memory_memory_entries_2: ['SELECT'],
            },
          }),
        ],
        w2: [onGroup('w2')],
      }),
    );
    expect(plan.actions.map((a) => a.summary)).toEqual([
      'update role reader on worker group w1 (preset readonly: password, tablePrivileges)',
    ]);
    expect(plan.actions[0]?.action).toMatchObject({ setPassword: true, create: false });
    const item = plan.drift.find((d) => d.resource === 'role/reader@w1');
    expect(item?.differences.map((d) => d.field)).toEqual(['password', 'tablePrivileges']);
    expect(JSON.stringify(plan)).not.toMatch(/SCRAM/);
  });

  it('mcp may insert into memory shards only; a coordinator password change reaches every group', () => {
    const mcp = { name: 'reader', preset: 'mcp' as const, passwordSecret: 'new-secret' };
    const plan = planShards(
      desired({ roles: [mcp] }),
      withGroupRoles({
        w1: [onGroup('w1', { tablePrivileges: {} })],
        w2: [onGroup('w2', { tablePrivileges: {} })],
      }),
    );
    expect(plan.actions.map((a) => a.action.kind)).toEqual([
      'ensure-role',
      'ensure-group-role',
      'ensure-group-role',
    ]);
    const w2 = plan.actions[2]?.action;
    expect(w2).toMatchObject({
      group: 'w2',
      setPassword: true,
      tablePrivileges: {
        memory_memory_entries_1: ['INSERT', 'SELECT'],
        memory_memory_entries_3: ['INSERT', 'SELECT'],
      },
    });
  });

  it('reports a group whose roles could not be read as blocked and plans nothing for it', () => {
    const plan = planShards(desired({ roles: [reader] }), withGroupRoles({ w2: [onGroup('w2')] }));
    expect(plan.actions).toEqual([]);
    expect(plan.drift.find((d) => d.resource === 'role/reader@w1')?.state).toBe('blocked');
  });
});

describe('ANALYZE of foreign partitions', () => {
  function withStats(stats: Array<[number, number | null]>): LiveShards {
    const l = live();
    l.shards = l.shards.map((s, i) => ({
      ...s,
      partition: `memory_memory_entries_${s.remainder}`,
      analyzedRows: stats[i]![0],
      rows: stats[i]![1],
    }));
    return l;
  }

  it('reads staleness: never analyzed, analyzed while empty and filled since, or current', () => {
    expect(staleness({ analyzedRows: -1, rows: 0 })).toBe('never-analyzed');
    expect(staleness({ analyzedRows: 0, rows: 40 })).toBe('changed');
    expect(staleness({ analyzedRows: 0, rows: 0 })).toBeNull();
    // Converges: once analyzed with rows, a later difference in counts plans nothing.
    expect(staleness({ analyzedRows: 1000, rows: 1250 })).toBeNull();
    expect(staleness({ analyzedRows: 40, rows: 0 })).toBeNull();
    expect(staleness({ analyzedRows: 1000, rows: null })).toBeNull();
  });

  it('plans one analyze per table for the partitions without current statistics', () => {
    const plan = planShards(
      desired(),
      withStats([
        [-1, 500],
        [500, 510],
        [0, 400],
        [500, 500],
      ]),
    );
    expect(plan.actions.map((a) => a.summary)).toEqual([
      'analyze 2 foreign partition(s) of memory.memory_entries (no statistics)',
    ]);
    expect(plan.actions[0]?.risk).toBe('safe');
    expect(plan.actions[0]?.action).toMatchObject({
      partitions: [
        { partition: 'memory_memory_entries_0', analyzedRows: -1, rows: 500 },
        { partition: 'memory_memory_entries_2', analyzedRows: 0, rows: 400 },
      ],
    });
    expect(plan.drift.find((d) => d.resource === 'statistics/memory.memory_entries')).toMatchObject(
      { state: 'drifted', reason: '1 foreign partition(s) never analyzed' },
    );
  });

  it('plans nothing when statistics are current; keys carry the live state found', () => {
    const current = withStats([
      [500, 500],
      [500, 510],
      [0, 0],
      [500, 480],
    ]);
    expect(planShards(desired(), current).actions).toEqual([]);
    const a = withStats([
      [500, 500],
      [500, 510],
      [0, 100],
      [500, 480],
    ]);
    const b = withStats([
      [500, 500],
      [500, 510],
      [0, 200],
      [500, 480],
    ]);
    const keyOf = (l: LiveShards) => planShards(desired(), l).actions[0]?.key;
    expect(keyOf(a)).toMatch(/^shards:analyze:memory\.memory_entries:/);
    expect(keyOf(a)).toBe(keyOf(a));
    expect(keyOf(b)).not.toBe(keyOf(a));
  });

  it('leaves out partitions that a move replaces and shards on unreachable groups', () => {
    const l = withStats([
      [-1, 0],
      [-1, 0],
      [-1, 0],
      [-1, 0],
    ]);
    l.groups[1] = { ...l.groups[1]!, reachable: false };
    const d = desired();
    const plan = planShards(d, l);
    const analyze = plan.actions.find((a) => a.action.kind === 'analyze')?.action;
    expect(analyze).toMatchObject({
      partitions: [
        { partition: 'memory_memory_entries_0' },
        { partition: 'memory_memory_entries_2' },
      ],
    });
    const moving = withStats([
      [-1, 0],
      [-1, 0],
      [-1, 0],
      [-1, 0],
    ]);
    moving.moves = [
      { moveId: 3, colocationId: 1, remainder: 0, source: 'w1', target: 'w2', state: 'copying' },
    ];
    const partitions = planShards(desired(), moving).actions.find(
      (a) => a.action.kind === 'analyze',
    )?.action;
    expect(partitions).toMatchObject({ partitions: [{}, {}, {}] });
  });
});

describe('rebalance progress in the drift report', () => {
  const added = () => {
    const d = desired();
    d.groups.push(groupW3());
    return d;
  };
  const six = () => {
    const s = shards(['w1', 'w2', 'w1', 'w2', 'w1', 'w2']);
    return live({
      shards: s,
      indexes: indexes(s),
      tables: [{ ...live().tables[0]!, shardCount: 6 }],
    });
  };

  it('shows the moves a plan makes as a run not started yet', () => {
    const l = six();
    l.groups.push({ ...l.groups[0]!, name: 'w3', hosts: ['h-w3'] });
    const item = planShards(added(), l).drift.find((d) => d.resource === 'rebalance');
    expect(item).toMatchObject({
      state: 'drifted',
      differences: [{ field: 'pendingMoves', desired: 0, live: 2 }],
      progress: { unit: 'shard moves', done: 0, total: 2, bytesDone: 0, bytesTotal: 2000 },
    });
  });

  it('shows a resumed move with the recorded run, and the last run once balanced', () => {
    const running = {
      unit: 'shard moves',
      done: 1,
      total: 3,
      bytesDone: 100,
      bytesTotal: 300,
      etaMs: 20_000,
      startedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:10.000Z',
    };
    const l = live({
      moves: [
        { moveId: 9, colocationId: 1, remainder: 3, source: 'w2', target: 'w1', state: 'copying' },
      ],
      rebalance: running,
    });
    expect(planShards(desired(), l).drift.find((d) => d.resource === 'rebalance')).toMatchObject({
      state: 'acting',
      reason: 'move 9 (w2 → w1) is copying',
      progress: running,
    });
    const finished = { ...running, done: 3, bytesDone: 300, etaMs: 0, finishedAt: 'then' };
    const item = planShards(desired(), live({ rebalance: finished })).drift.find(
      (d) => d.resource === 'rebalance',
    );
    expect(item).toMatchObject({ state: 'in-sync', progress: finished });
  });
});
