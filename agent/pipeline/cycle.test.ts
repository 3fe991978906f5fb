import { describe, expect, it } from 'vitest';
import type { Backend, DriftItem, PlannedAction } from '../backends/types.js';
import { ManifestInvalidError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { Gate } from '../gate/gate.js';
import type { PauseInfo } from '../gate/pause.js';
import { MemoryJournal } from '../journal/memory.js';
import type { ManifestSet } from '../manifests/types.js';
import { MemoryReportStore } from '../report/store.js';
import type { Snapshot, Source, SourceFile } from '../sources/types.js';
import { createCycle, type CycleDeps } from './cycle.js';
import { bindBackend } from './types.js';

/** Desired/live: group name → replicas. Files are `<group>=<n>` lines. */
type Groups = Record<string, number>;
interface ScaleAction extends PlannedAction {
  group: string;
  replicas: number;
}

function memoryBackend(live: Groups, hooks: { onApply?: (a: ScaleAction) => Promise<void> } = {}) {
  const applied: string[] = [];
  const backend: Backend<null, Groups, Groups, ScaleAction> = {
    name: 'swarm',
    desired: (set) => JSON.parse(set.digest) as Groups,
    observe: async () => ({ ...live }),
    plan(desired, current) {
      const actions: ScaleAction[] = [];
      const drift: DriftItem[] = [];
      for (const [group, n] of Object.entries(desired)) {
        const resource = `service/${group}`;
        if (current[group] === n) {
          drift.push({ backend: 'swarm', resource, state: 'in-sync', differences: [] });
          continue;
        }
        drift.push({
          backend: 'swarm',
          resource,
          state: 'drifted',
          differences: [{ field: 'replicas', desired: n, live: current[group] ?? null }],
        });
        actions.push({
          key: `swarm:scale:${group}:${n}`,
          backend: 'swarm',
          summary: `scale ${group} to ${n}`,
          risk: 'safe',
          group,
          replicas: n,
        });
      }
      return { actions, refusals: [], drift };
    },
    async apply(action) {
      await hooks.onApply?.(action);
      applied.push(action.key);
      live[action.group] = action.replicas;
    },
  };
  return { backend, applied, live };
}

function parse(files: SourceFile[]): ManifestSet {
  const groups: Groups = {};
  for (const f of files) {
    for (const line of f.content.split('\n').filter(Boolean)) {
      const [g, n] = line.split('=');
      if (!g || !n || !/^\d+$/.test(n)) {
        throw new ManifestInvalidError([
          { file: f.path, field: `/${g}`, reason: 'must be a number' },
        ]);
      }
      groups[g] = Number(n);
    }
  }
  return { root: '', digest: JSON.stringify(groups), cluster: {} as never, documents: [] };
}

function memorySource(initial: string) {
  let content = initial;
  let rev = 1;
  const source: Source = {
    kind: 'git',
    read: async (): Promise<Snapshot> => ({
      kind: 'git',
      revision: `c${rev}`,
      ref: 'main',
      files: [{ path: 'cluster.txt', content }],
    }),
    onChange: () => () => undefined,
    close: async () => undefined,
  };
  return {
    source,
    push(next: string) {
      content = next;
      rev++;
    },
  };
}

function setup(initial: string, live: Groups, onApply?: (a: ScaleAction) => Promise<void>) {
  const src = memorySource(initial);
  const mem = memoryBackend(live, onApply ? { onApply } : {});
  let pause: PauseInfo | null = null;
  let leader = true;
  const term = new AbortController();
  const journal = new MemoryJournal('a1');
  const store = new MemoryReportStore();
  const deps: CycleDeps = {
    cluster: 'pgm',
    agentId: 'a1',
    source: src.source,
    parse,
    backends: [bindBackend(mem.backend, null)],
    gate: new Gate({ pause: () => pause }),
    pause: () => pause,
    journal,
    leader: { isLeader: () => leader, signal: () => term.signal },
    store,
    log: silentLogger(),
  };
  return {
    ...src,
    ...mem,
    deps,
    journal,
    store,
    term,
    cycle: createCycle(deps),
    setPause: (p: PauseInfo | null) => (pause = p),
    setLeader: (l: boolean) => (leader = l),
  };
}

describe('the reconcile cycle', () => {
  it('applies drift, records the commit, and is in sync afterwards', async () => {
    const t = setup('w1=2\nw2=2\n', { w1: 2, w2: 1 });
    const r1 = await t.cycle.run();
    expect(t.applied).toEqual(['swarm:scale:w2:2']);
    expect(r1.source).toMatchObject({ revision: 'c1', actedOn: 'c1' });
    expect(r1.status).toBe('in-sync'); // verify observed again after the action
    expect(r1.backends[0]?.actions[0]).toMatchObject({ result: 'applied' });
    // The drift it found and put right stays in the report, as found.
    expect(r1.backends[0]?.corrected?.map((i) => [i.resource, i.state])).toEqual([
      ['service/w2', 'drifted'],
    ]);
    expect(r1.steps.map((s) => s.step)).toEqual([
      'source',
      'validate',
      'observe',
      'plan',
      'gate',
      'apply',
      'verify',
      'report',
    ]);
    const r2 = await t.cycle.run();
    expect(r2.status).toBe('in-sync');
    expect(r2.seq).toBe(2);
  });

  it('rejects an invalid set whole, applies nothing, keeps the last good set', async () => {
    const t = setup('w1=2\n', { w1: 2 });
    await t.cycle.run();
    t.push('w1=3\nw2=oops\n');
    t.live.w1 = 1; // a hand-made change meanwhile
    const r = await t.cycle.run();
    expect(r.status).toBe('rejected');
    expect(r.validation).toEqual({
      ok: false,
      problems: [{ file: 'cluster.txt', field: '/w2', reason: 'must be a number' }],
    });
    expect(r.source).toMatchObject({ revision: 'c2', actedOn: 'c1' });
    expect(t.applied).toEqual([]);
    // Drift is still observed against the last good set.
    expect(r.backends[0]?.items[0]).toMatchObject({ state: 'drifted', resource: 'service/w1' });
    expect(r.backends[0]?.actions[0]).toMatchObject({ result: 'not-run' });
    expect(t.cycle.lastGood()?.revision).toBe('c1');
    t.push('w1=3\n');
    const ok = await t.cycle.run();
    expect(ok.validation.ok).toBe(true);
    expect(t.applied).toEqual(['swarm:scale:w1:3']);
  });

  it('while paused observes and reports but starts no action', async () => {
    const t = setup('w1=3\n', { w1: 2 });
    t.setPause({ by: 'alice', reason: 'disk full', since: '2025-01-01T00:00:00.000Z' });
    const r = await t.cycle.run();
    expect(t.applied).toEqual([]);
    expect(r.status).toBe('blocked');
    expect(r.paused).toMatchObject({ by: 'alice', reason: 'disk full' });
    expect(r.backends[0]?.items[0]).toMatchObject({ state: 'blocked' });
    expect(r.backends[0]?.actions[0]?.reason).toContain('paused by alice');
    t.setPause(null);
    expect((await t.cycle.run()).status).toBe('in-sync');
    expect(t.applied).toEqual(['swarm:scale:w1:3']);
  });

  it('stops a multi-step apply at the next action once paused', async () => {
    const t: ReturnType<typeof setup> = setup('a=1\nb=1\nc=1\n', {}, async (action) => {
      if (action.group === 'a') t.setPause({ by: 'bob', reason: 'stop', since: null });
    });
    const r = await t.cycle.run();
    expect(t.applied).toEqual(['swarm:scale:a:1']);
    expect(r.backends[0]?.actions.map((a) => a.result)).toEqual(['applied', 'blocked', 'blocked']);
    expect(r.paused?.by).toBe('bob');
  });

  it('an observer replica does not act; the journal skips steps a leader completed', async () => {
    const t = setup('w1=2\n', { w1: 1 });
    t.setLeader(false);
    const r = await t.cycle.run();
    expect(r.leader).toBe(false);
    expect(t.applied).toEqual([]);
    expect(await t.store.latest()).toBeNull(); // observers do not store reports
    t.setLeader(true);
    await t.journal.runOnce('swarm:scale:w1:2', async () => undefined);
    const r2 = await t.cycle.run();
    expect(t.applied).toEqual([]);
    expect(r2.backends[0]?.actions[0]).toMatchObject({ result: 'skipped' });
  });

  it('stops at once when leadership is lost', async () => {
    const t: ReturnType<typeof setup> = setup('a=1\nb=1\n', {}, async () => t.term.abort());
    const r = await t.cycle.run();
    expect(r.backends[0]?.actions.map((a) => a.result)).toEqual(['applied', 'not-run']);
  });

  it('reports a failed action and leaves the rest unrun', async () => {
    const t = setup('a=1\nb=1\n', {}, async (a) => {
      if (a.group === 'a') throw new Error('boom');
    });
    const r = await t.cycle.run();
    expect(r.status).toBe('failed');
    // No dependsOn from the backend: every later action of it waits on the failed one.
    expect(r.backends[0]?.actions.map((a) => a.result)).toEqual(['failed', 'blocked']);
    expect(r.backends[0]?.actions[1]?.reason).toBe('blocked (by swarm:scale:a:1)');
    expect(t.journal.entries.get('swarm:scale:a:1')?.state).toBe('failed');
  });

  it('runs independent actions past a failure, blocks dependents, and backs off the failed one', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const t = setup('a=1\nb=1\nc=1\n', {}, async (a) => {
      if (a.group === 'a') throw new Error('boom');
    });
    // a fails; b needs nothing; c needs a.
    const plan = t.backend.plan.bind(t.backend);
    t.backend.plan = (d, l) => {
      const p = plan(d, l);
      for (const a of p.actions) {
        a.resource = `service/${a.group}`;
        a.dependsOn = a.group === 'c' ? ['swarm:scale:a:1'] : [];
      }
      return p;
    };
    const journal = new MemoryJournal(
      'a1',
      { baseMs: 10_000, maxMs: 60_000 },
      () => new Date(clock),
    );
    const cycle = createCycle({ ...t.deps, journal });
    const r1 = await cycle.run();
    expect(r1.backends[0]?.actions.map((a) => [a.key, a.result])).toEqual([
      ['swarm:scale:a:1', 'failed'],
      ['swarm:scale:b:1', 'applied'],
      ['swarm:scale:c:1', 'blocked'],
    ]);
    expect(r1.backends[0]?.actions[2]?.reason).toBe('blocked (by swarm:scale:a:1)');
    expect(r1.backends[0]?.actions[0]).toMatchObject({
      attempts: 1,
      nextTryAt: '2026-01-01T00:00:10.000Z',
    });
    const items = Object.fromEntries(r1.backends[0]?.items.map((i) => [i.resource, i.state]) ?? []);
    // Only a's own item is failed; c is blocked, not failed with a's error.
    expect(items).toEqual({
      'service/a': 'failed',
      'service/b': 'in-sync',
      'service/c': 'blocked',
    });
    expect(t.applied).toEqual(['swarm:scale:b:1']);

    // Within the backoff: not tried, the report says when it will be.
    clock += 5_000;
    const r2 = await cycle.run();
    expect(r2.backends[0]?.actions[0]?.reason).toMatch(
      /boom \(attempt 1; next try at 2026-01-01T00:00:10.000Z\)/,
    );
    expect(journal.entries.get('swarm:scale:a:1')?.attempts).toBe(1);
    // After it: tried again; the next interval doubles.
    clock += 6_000;
    await cycle.run();
    expect(journal.entries.get('swarm:scale:a:1')).toMatchObject({
      attempts: 2,
      nextTryAt: '2026-01-01T00:00:31.000Z',
    });
  });

  it('reports acting while a backend is still converging after its actions', async () => {
    const t = setup('w1=3\n', { w1: 1 });
    // An apply that returns before the live state follows (Swarm rolling an update).
    t.backend.apply = async (a) => {
      t.applied.push(a.key);
    };
    const r = await t.cycle.run();
    expect(r.status).toBe('acting');
    expect(r.backends[0]?.items[0]).toMatchObject({ state: 'acting' });
  });

  it('folds triggers during a running cycle into one more cycle', async () => {
    const t = setup('w1=1\n', { w1: 1 });
    const [a, b, c] = await Promise.all([t.cycle.run(), t.cycle.run(), t.cycle.run()]);
    expect(a.seq).toBe(1);
    expect(b.seq).toBe(2);
    expect(c).toBe(b);
  });
});

describe('the cycle with the real manifest parser', () => {
  it('carries file, field and reason of a rejected set into the report', async () => {
    const { parseManifestSetFromFiles } = await import('../manifests/load.js');
    const t = setup('', {});
    const source: Source = {
      kind: 'folder',
      read: async () => ({
        kind: 'folder',
        revision: 'sha256:x',
        ref: '/m',
        files: [
          { path: 'cluster.yaml', content: 'apiVersion: pgmesh.io/v1\nkind: Cluster\nspec: 3\n' },
        ],
      }),
      onChange: () => () => undefined,
      close: async () => undefined,
    };
    const r = await createCycle({
      cluster: 'pgm',
      agentId: 'a1',
      source,
      parse: (files) => parseManifestSetFromFiles(files),
      backends: [bindBackend(t.backend, null)],
      gate: new Gate({ pause: () => null }),
      pause: () => null,
      journal: t.journal,
      leader: { isLeader: () => true, signal: () => t.term.signal },
      log: silentLogger(),
    }).run();
    expect(r.status).toBe('rejected');
    expect(r.validation.problems.length).toBeGreaterThan(0);
    expect(r.validation.problems[0]?.file).toBe('cluster.yaml');
    expect(t.applied).toEqual([]);
  });
});
