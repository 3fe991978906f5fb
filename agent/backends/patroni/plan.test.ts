import { describe, expect, it } from 'vitest';
import { planFromManifests, switchoverCandidate } from './index.js';
import { liveFromKeys } from './observe.js';
import { canonicalValue } from './params.js';
import { planHeal, planPatroni } from './plan.js';
import type { Kv } from './transport.js';
import type { DesiredScope, LiveMember, LivePatroni, LiveScope, PatroniAction } from './types.js';

const BASE_PARAMS = { max_connections: 100, work_mem: '4MB', shared_buffers: '128MB' };

function m(name: string, role: string, extra: Partial<LiveMember> = {}): LiveMember {
  return {
    name,
    role,
    state: role === 'primary' ? 'running' : 'streaming',
    apiUrl: `http://${name}:8008`,
    pendingRestart: false,
    pendingReasons: {},
    lagBytes: 0,
    replicationState: role === 'primary' ? undefined : 'streaming',
    ...extra,
  };
}

function scope(extra: Partial<LiveScope> = {}, params: Record<string, unknown> = {}): LiveScope {
  return {
    scope: 'coord',
    config: {
      ttl: 20,
      loop_wait: 2,
      retry_timeout: 5,
      synchronous_mode: true,
      postgresql: { parameters: { ...BASE_PARAMS, ...params } },
    },
    configRevision: '100',
    leader: 'coord-1',
    paused: false,
    syncStandby: 'coord-2',
    members: [m('coord-1', 'primary'), m('coord-2', 'sync_standby'), m('coord-3', 'replica')],
    ...extra,
  };
}

function want(
  parameters: DesiredScope['parameters'],
  fields: DesiredScope['fields'] = {},
): DesiredScope {
  return { scope: 'coord', source: 'p.yaml', fields, parameters };
}

function steps(actions: PatroniAction[]): string[] {
  return actions.map((a) =>
    a.kind === 'patch-config'
      ? `patch ${JSON.stringify(a.patch)}`
      : a.kind === 'switchover'
        ? `switchover from ${a.from}`
        : a.kind === 'reinit-member'
          ? `reinit ${a.member}`
          : `restart ${a.member} as ${a.expectRole}`,
  );
}

function plan(desired: DesiredScope, live: LiveScope) {
  return planPatroni({ scopes: [desired] }, { scopes: [live] });
}

describe('planPatroni: config changes', () => {
  it('plans nothing when the DCS config already matches (units and types compared by value)', () => {
    const r = plan(
      want({ max_connections: 100, work_mem: '4096kB', shared_buffers: '128MB' }, { ttl: 20 }),
      scope(),
    );
    expect(r.actions).toEqual([]);
    expect(r.notes).toEqual([]);
  });

  it('patches a reload-only parameter and Patroni fields, without restarts', () => {
    const r = plan(want({ work_mem: '8MB' }, { ttl: 30, loop_wait: 5 }), scope());
    expect(steps(r.actions)).toEqual([
      'patch {"ttl":30,"loop_wait":5,"postgresql":{"parameters":{"work_mem":"8MB"}}}',
    ]);
    const patch = r.actions[0];
    expect(patch?.kind === 'patch-config' && patch.changes).toEqual([
      { field: 'ttl', desired: 30, live: 20 },
      { field: 'loop_wait', desired: 5, live: 2 },
      { field: 'postgresql.parameters.work_mem', desired: '8MB', live: '4MB' },
    ]);
  });

  it('restarts replicas one at a time, switches over, then restarts the old primary', () => {
    const r = plan(want({ shared_buffers: '256MB' }), scope());
    expect(steps(r.actions)).toEqual([
      'patch {"postgresql":{"parameters":{"shared_buffers":"256MB"}}}',
      'restart coord-2 as replica',
      'restart coord-3 as replica',
      'switchover from coord-1',
      'restart coord-1 as replica',
    ]);
    expect(r.actions[1]).toMatchObject({ afterPatch: true, parameters: ['shared_buffers'] });
  });

  it('an increase of a parameter replicas need ≥ the primary goes to the replicas first', () => {
    const r = plan(want({ max_connections: 200 }), scope());
    expect(steps(r.actions).slice(1)).toEqual([
      'restart coord-2 as replica',
      'restart coord-3 as replica',
      'switchover from coord-1',
      'restart coord-1 as replica',
    ]);
  });

  it('a decrease of such a parameter goes to the primary first, then the replicas', () => {
    for (const name of [
      'max_connections',
      'max_worker_processes',
      'max_wal_senders',
      'max_prepared_transactions',
      'max_locks_per_transaction',
    ]) {
      const r = plan(want({ [name]: 10 }), scope({}, { [name]: 20 }));
      expect(steps(r.actions).slice(1), name).toEqual([
        'restart coord-1 as primary',
        'restart coord-2 as replica',
        'restart coord-3 as replica',
      ]);
    }
  });

  it('an increase and a decrease in one change: the increase now, the decrease later', () => {
    const r = plan(
      want({ max_connections: 200, max_worker_processes: 4 }),
      scope({}, { max_worker_processes: 8 }),
    );
    expect(steps(r.actions)).toEqual([
      'patch {"postgresql":{"parameters":{"max_connections":200}}}',
      'restart coord-2 as replica',
      'restart coord-3 as replica',
      'switchover from coord-1',
      'restart coord-1 as replica',
    ]);
    expect(r.notes).toEqual([
      expect.objectContaining({
        state: 'deferred',
        reason: expect.stringContaining('max_worker_processes'),
      }),
    ]);
    // Next cycle, with the increase in place: the decrease, primary first.
    const next = plan(
      want({ max_connections: 200, max_worker_processes: 4 }),
      scope({}, { max_connections: 200, max_worker_processes: 8 }),
    );
    expect(steps(next.actions)).toEqual([
      'patch {"postgresql":{"parameters":{"max_worker_processes":4}}}',
      'restart coord-1 as primary',
      'restart coord-2 as replica',
      'restart coord-3 as replica',
    ]);
  });

  it('a group of one member restarts its primary in place', () => {
    const r = plan(
      want({ shared_buffers: '256MB' }),
      scope({ members: [m('coord-1', 'primary')] }),
    );
    expect(steps(r.actions).slice(1)).toEqual(['restart coord-1 as primary']);
  });
});

describe('planPatroni: never fights Patroni', () => {
  it('leaves a paused scope alone', () => {
    const live = scope();
    live.paused = true;
    const r = plan(want({ shared_buffers: '256MB' }), live);
    expect(r.actions).toEqual([]);
    expect(r.notes[0]).toMatchObject({
      state: 'blocked',
      reason: expect.stringContaining('paused'),
    });
  });

  it('follows the leader Patroni names, whoever it is', () => {
    const live = scope({
      leader: 'coord-3',
      members: [m('coord-1', 'replica'), m('coord-2', 'sync_standby'), m('coord-3', 'primary')],
    });
    expect(steps(plan(want({ shared_buffers: '256MB' }), live).actions).slice(1)).toEqual([
      'restart coord-1 as replica',
      'restart coord-2 as replica',
      'switchover from coord-3',
      'restart coord-3 as replica',
    ]);
  });

  it('patches but holds restarts while there is no leader or a member is down', () => {
    const noLeader = plan(want({ shared_buffers: '256MB' }), scope({ leader: undefined }));
    expect(steps(noLeader.actions)).toHaveLength(1);
    expect(noLeader.notes[0]?.reason).toContain('no leader');
    const live = scope();
    live.members[2] = m('coord-3', 'replica', { state: 'starting' });
    const down = plan(want({ shared_buffers: '256MB' }), live);
    expect(steps(down.actions)).toHaveLength(1);
    expect(down.notes[0]?.reason).toContain('coord-3 is starting');
  });

  it('says so when the scope has not bootstrapped', () => {
    const r = planPatroni({ scopes: [want({})] }, { scopes: [] });
    expect(r.notes[0]).toMatchObject({ state: 'blocked' });
  });
});

describe('planPatroni: pending restarts left from earlier', () => {
  it('restarts only the pending members, the leader through a switchover', () => {
    const live = scope({}, { shared_buffers: '256MB' });
    live.members = [
      m('coord-1', 'primary', { pendingRestart: true }),
      m('coord-2', 'sync_standby'),
      m('coord-3', 'replica', { pendingRestart: true }),
    ];
    const r = plan(want({ shared_buffers: '256MB' }), live);
    expect(steps(r.actions)).toEqual([
      'restart coord-3 as replica',
      'switchover from coord-1',
      'restart coord-1 as replica',
    ]);
    expect(r.actions[0]).toMatchObject({ afterPatch: false });
  });

  it('a pending decrease restarts the primary first', () => {
    const live = scope({}, { max_connections: 50 });
    const reasons = { max_connections: { old: '100', new: '50' } };
    live.members = live.members.map((x) => ({
      ...x,
      pendingRestart: true,
      pendingReasons: reasons,
    }));
    expect(steps(plan(want({ max_connections: 50 }), live).actions)).toEqual([
      'restart coord-1 as primary',
      'restart coord-2 as replica',
      'restart coord-3 as replica',
    ]);
  });
});

describe('planFromManifests', () => {
  const live: LivePatroni = { scopes: [scope()] };

  it('gives stable keys, new ones once the config changed again, and a drift item per scope', () => {
    const desired = { scopes: [want({ shared_buffers: '256MB' })] };
    const a = planFromManifests(desired, live);
    const b = planFromManifests(desired, live);
    expect(a.actions.map((x) => x.key)).toEqual(b.actions.map((x) => x.key));
    expect(new Set(a.actions.map((x) => x.key)).size).toBe(a.actions.length);
    expect(a.actions[1]?.key).toMatch(/^patroni:restart-member:coord:coord-2:[0-9a-f]{12}$/);
    expect(a.actions.map((x) => x.risk)).toEqual([
      'safe',
      'disruptive',
      'disruptive',
      'disruptive',
      'disruptive',
    ]);
    const c = planFromManifests(desired, { scopes: [scope({ configRevision: '180' })] });
    expect(c.actions[1]?.key).not.toBe(a.actions[1]?.key);
    expect(a.drift).toEqual([
      expect.objectContaining({ resource: 'scope/coord', state: 'drifted' }),
    ]);
    expect(a.refusals).toEqual([]);
    const inSync = planFromManifests({ scopes: [want({ max_connections: 100 })] }, live);
    expect(inSync.drift[0]).toMatchObject({ state: 'in-sync', differences: [] });
  });
});

describe('switchoverCandidate', () => {
  it('in synchronous mode only the sync standby; otherwise the least lagging', () => {
    expect(switchoverCandidate(scope(), 'coord-1', 1024)).toBe('coord-2');
    const s = scope();
    s.syncStandby = undefined;
    expect(switchoverCandidate(s, 'coord-1', 1024)).toBeUndefined();
    s.config = { ...s.config, synchronous_mode: false };
    s.members[1] = m('coord-2', 'replica', { lagBytes: 500 });
    expect(switchoverCandidate(s, 'coord-1', 1024)).toBe('coord-3');
    s.members[2] = m('coord-3', 'replica', { pendingRestart: true });
    expect(switchoverCandidate(s, 'coord-1', 1024)).toBe('coord-2');
  });
});

describe('liveFromKeys', () => {
  it('reads config, leader, pause, sync and members with pending restarts', () => {
    const kv = (key: string, value: unknown): Kv => ({
      key: `/patroni/${key}`,
      value: typeof value === 'string' ? value : JSON.stringify(value),
      modRevision: '7',
    });
    const live = liveFromKeys(
      [
        kv('w1/config', {
          ttl: 20,
          pause: true,
          postgresql: { parameters: { max_connections: 100 } },
        }),
        kv('w1/leader', 'w1-1'),
        kv('w1/sync', { leader: 'w1-1', sync_standby: 'w1-2' }),
        kv('w1/members/w1-1', {
          role: 'primary',
          state: 'running',
          api_url: 'http://10.0.0.5:8008/patroni',
          xlog_location: 5000,
          postmaster_start_time: '2026-01-01 10:00:00+00',
          pending_restart: true,
          pending_restart_reason: { max_connections: { old_value: '100', new_value: '200' } },
        }),
        kv('w1/members/w1-2', { role: 'replica', state: 'streaming', replayed_location: 4000 }),
      ],
      ['w1'],
    );
    expect(live.scopes[0]).toMatchObject({
      scope: 'w1',
      leader: 'w1-1',
      paused: true,
      syncStandby: 'w1-2',
      members: [
        {
          name: 'w1-1',
          role: 'primary',
          apiUrl: 'http://10.0.0.5:8008',
          pendingRestart: true,
          pendingReasons: { max_connections: { old: '100', new: '200' } },
          lagBytes: 0,
        },
        {
          name: 'w1-2',
          role: 'replica',
          state: 'streaming',
          pendingRestart: false,
          lagBytes: 1000,
        },
      ],
    });
  });
});

describe('canonicalValue', () => {
  it('compares sizes, durations, booleans and numbers by value', () => {
    expect(canonicalValue('shared_buffers', '1GB')).toBe(
      canonicalValue('shared_buffers', '1048576kB'),
    );
    expect(canonicalValue('statement_timeout', '1min')).toBe(
      canonicalValue('statement_timeout', '60s'),
    );
    expect(canonicalValue('log_lock_waits', true)).toBe(canonicalValue('log_lock_waits', 'on'));
    expect(canonicalValue('max_connections', '100')).toBe(canonicalValue('max_connections', 100));
    expect(canonicalValue('work_mem', '4MB')).not.toBe(canonicalValue('work_mem', '8MB'));
  });
});

describe('planHeal: a replica whose Postgres does not start', () => {
  it('is reinitialized from a running leader, in any scope, declared or not', () => {
    const live: LivePatroni = {
      scopes: [
        scope({
          members: [
            m('coord-1', 'primary'),
            m('coord-2', 'replica', { state: 'start failed' }),
            m('coord-3', 'replica'),
          ],
        }),
      ],
    };
    expect(steps(planHeal(live))).toEqual(['reinit coord-2']);
    // Safe risk (it is down anyway) and a drift item that says why.
    const p = planFromManifests({ scopes: [] }, live);
    expect(p.actions.map((a) => [a.key.split(':').slice(0, 4).join(':'), a.risk])).toEqual([
      ['patroni:reinit-member:coord:coord-2', 'safe'],
    ]);
    expect(p.drift).toEqual([
      expect.objectContaining({ resource: 'member/coord-2', state: 'drifted' }),
    ]);
  });

  it('never the leader, not without a running leader, not while Patroni is paused, not while only starting', () => {
    const failedLeader = scope({
      members: [m('coord-1', 'primary', { state: 'start failed' }), m('coord-2', 'replica')],
    });
    const noLeader = scope({
      leader: undefined,
      members: [m('coord-2', 'replica', { state: 'start failed' })],
    });
    const paused = scope({
      paused: true,
      members: [m('coord-1', 'primary'), m('coord-2', 'replica', { state: 'start failed' })],
    });
    const starting = scope({
      members: [m('coord-1', 'primary'), m('coord-2', 'replica', { state: 'starting' })],
    });
    for (const s of [failedLeader, noLeader, paused, starting])
      expect(planHeal({ scopes: [s] })).toEqual([]);
  });
});
