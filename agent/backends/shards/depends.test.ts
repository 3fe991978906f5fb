import { describe, expect, it } from 'vitest';
import { driftResourceOf, shardsDependencies } from './depends.js';
import type { DesiredTable, ShardsAction } from './types.js';

const table = (name: string, kind: DesiredTable['kind'] = 'distributed'): DesiredTable => ({
  kind,
  name,
  schema: name.split('.')[0] as string,
  table: name.split('.')[1] as string,
  columns: [],
  primaryKey: [],
});

describe('shards dependencies', () => {
  it('a table create failing blocks only the steps that touch that table', () => {
    const actions: ShardsAction[] = [
      { kind: 'create-reference-table', table: table('shop.countries', 'reference') },
      { kind: 'create-distributed-table', table: table('shop.orders') },
      { kind: 'analyze', table: 'shop.orders', partitions: [], reason: 'never-analyzed' },
      { kind: 'analyze', table: 'shop.countries', partitions: [], reason: 'never-analyzed' },
      {
        kind: 'ensure-role',
        role: 'app',
        preset: 'app',
        create: true,
        setPassword: true,
        passwordSecret: 's',
        tablePrivileges: { 'shop.orders': ['SELECT'] },
        schemaPrivileges: {},
        createRole: false,
        changes: [],
      },
    ];
    expect(shardsDependencies(actions)).toEqual([[], [], [1], [0], [1]]);
    expect(actions.map(driftResourceOf)).toEqual([
      'table/shop.countries',
      'table/shop.orders',
      'statistics/shop.orders',
      'statistics/shop.countries',
      'role/app',
    ]);
  });

  it('everything needs the engine install; moves run one after another', () => {
    const move = (remainder: number): ShardsAction => ({
      kind: 'move-shard',
      colocationId: 1,
      table: 'shop.orders',
      remainder,
      source: 'w1',
      target: 'w2',
      shards: 1,
      bytes: 1,
      step: remainder,
      steps: 2,
      bytesBefore: 0,
      bytesTotal: 2,
    });
    const actions: ShardsAction[] = [
      { kind: 'install-engine', from: 1, to: 2 },
      { kind: 'register-group', group: 'w2', hosts: ['h'], port: 5432, dbname: 'd' },
      move(1),
      move(2),
    ];
    expect(shardsDependencies(actions)).toEqual([[], [0], [0, 1], [0, 1, 2]]);
  });
});
