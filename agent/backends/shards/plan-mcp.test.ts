import { describe, expect, it } from 'vitest';
import { planMcp } from './plan-mcp.js';
import type { DesiredShards, LiveShards } from './types.js';

const client = { role: 'agent_a', read: ['shared'], write: ['a'], passwordSecret: 'pw-a' };

function desired(over: Partial<DesiredShards> = {}): DesiredShards {
  return {
    engineVersion: 15,
    groups: [],
    tables: [],
    vectorIndexes: [],
    roles: [],
    mcpClients: [client],
    mcpTables: ['memory.memory_entries'],
    ...over,
  };
}

function live(over: Partial<LiveShards> = {}): LiveShards {
  return {
    engineVersion: 15,
    groups: ['w1', 'w2'].map((name) => ({
      name,
      hosts: [name],
      port: 5432,
      dbname: 'postgres',
      state: 'active' as const,
      reachable: true,
    })),
    tables: [{ name: 'memory.memory_entries', kind: 'distributed', columns: [] }],
    shards: [],
    indexes: [],
    moves: [],
    shardCommands: [],
    roles: [],
    mcp: {
      clients: [
        { role: 'agent_a', read: ['shared'], write: ['a'], tables: ['memory.memory_entries'] },
      ],
      problems: [],
      mappings: { agent_a: ['pgmesh_w1', 'pgmesh_w2'] },
    },
    ...over,
  };
}

describe('planMcp', () => {
  it('nothing to do without MCP clients, desired or recorded', () => {
    const p = planMcp(desired({ mcpClients: [], mcpTables: [] }), live({ mcp: null }), new Set());
    expect(p).toEqual({ policies: [], mappings: [], drift: [] });
  });

  it('in sync: no action, in-sync drift items', () => {
    const p = planMcp(desired(), live(), new Set());
    expect(p.policies).toEqual([]);
    expect(p.mappings).toEqual([]);
    expect(p.drift.map((d) => [d.resource, d.state])).toEqual([
      ['mcp/policies', 'in-sync'],
      ['mcp/mapping/agent_a', 'in-sync'],
    ]);
  });

  it('changed namespaces, a shard without policies, a missing or re-passworded mapping', () => {
    const changed = planMcp(
      desired({ mcpClients: [{ ...client, write: ['a', 'a2'] }] }),
      live(),
      new Set(),
    );
    expect(changed.policies).toEqual([
      {
        kind: 'sync-mcp-policies',
        clients: [{ role: 'agent_a', read: ['shared'], write: ['a', 'a2'] }],
        tables: ['memory.memory_entries'],
        reason: 'clients',
      },
    ]);
    const moved = planMcp(
      desired(),
      live({
        mcp: {
          ...live().mcp!,
          problems: [{ location: 'w2', table: 'memory_memory_entries_3', problem: 'policies' }],
        },
      }),
      new Set(),
    );
    expect(moved.policies[0]).toMatchObject({ reason: 'policies' });
    const unmapped = planMcp(
      desired(),
      live({ mcp: { ...live().mcp!, mappings: { agent_a: ['pgmesh_w1'] } } }),
      new Set(),
    );
    expect(unmapped.mappings).toEqual([
      {
        kind: 'ensure-mcp-mapping',
        role: 'agent_a',
        passwordSecret: 'pw-a',
        servers: ['pgmesh_w2'],
        reason: 'missing',
      },
    ]);
    const repassworded = planMcp(desired(), live(), new Set(['agent_a']));
    expect(repassworded.mappings[0]).toMatchObject({
      servers: ['pgmesh_w1', 'pgmesh_w2'],
      reason: 'password',
    });
    expect(JSON.stringify(repassworded)).not.toContain('password=');
  });

  it('before the engine has version 15, or with a removed client, the policies are synced', () => {
    expect(
      planMcp(desired(), live({ engineVersion: 7, mcp: null }), new Set()).policies[0],
    ).toMatchObject({ reason: 'clients' });
    const removed = planMcp(desired({ mcpClients: [] }), live(), new Set());
    expect(removed.policies).toEqual([
      {
        kind: 'sync-mcp-policies',
        clients: [],
        tables: ['memory.memory_entries'],
        reason: 'clients',
      },
    ]);
  });

  it('blocked while the tables are not distributed yet (the roles wait with it)', () => {
    const p = planMcp(desired(), live({ tables: [], mcp: null }), new Set());
    expect(p.policies).toEqual([]);
    expect(p.drift[0]).toMatchObject({ resource: 'mcp/policies', state: 'blocked' });
  });
});
