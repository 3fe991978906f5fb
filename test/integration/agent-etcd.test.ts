import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, PlannedAction } from '../../agent/backends/types.js';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { createEtcdClient } from '../../agent/etcd/client.js';
import { journalKey, pauseKey } from '../../agent/etcd/keys.js';
import { Gate } from '../../agent/gate/gate.js';
import {
  clearPause,
  getPause,
  setPause,
  stampPause,
  watchPause,
  type PauseWatch,
} from '../../agent/gate/pause.js';
import { Journal } from '../../agent/journal/journal.js';
import { LeaderElection } from '../../agent/leader/election.js';
import type { ManifestSet } from '../../agent/manifests/types.js';
import { createCycle } from '../../agent/pipeline/cycle.js';
import { bindBackend } from '../../agent/pipeline/types.js';
import { sampleReport } from '../../agent/report/sample.js';
import { EtcdReportStore } from '../../agent/report/store.js';
import type { Source } from '../../agent/sources/types.js';
import { startEtcd, type EtcdContainer } from '../helpers/etcd-container.js';

const log = silentLogger();
let etcd: EtcdContainer;
const clients: Etcd3[] = [];
function client(): Etcd3 {
  const c = createEtcdClient({ hosts: etcd.url });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  etcd = await startEtcd('pgmtest-agent-etcd-1');
});
afterAll(async () => {
  for (const c of clients) c.close();
  await etcd?.remove();
});

interface Step extends PlannedAction {
  n: number;
}

/** A backend whose plan is N ordered steps; `onApply` lets a test act between steps. */
function stepsBackend(count: number, onApply: (a: Step) => Promise<void> = async () => undefined) {
  const done = new Set<number>();
  const applied: string[] = [];
  const backend: Backend<null, number, Set<number>, Step> = {
    name: 'swarm',
    desired: () => count,
    observe: async () => new Set(done),
    plan(want, live) {
      const actions: Step[] = [];
      for (let n = 1; n <= want; n++) {
        if (live.has(n)) continue;
        actions.push({
          key: `steps:${n}`,
          backend: 'swarm',
          summary: `step ${n}`,
          risk: 'safe',
          n,
        });
      }
      return {
        actions,
        refusals: [],
        drift: actions.map((a) => ({
          backend: 'swarm' as const,
          resource: `step/${a.n}`,
          state: 'drifted' as const,
          differences: [{ field: 'done', desired: true, live: false }],
        })),
      };
    },
    async apply(a) {
      await onApply(a);
      applied.push(a.key);
      done.add(a.n);
    },
  };
  return { backend, applied };
}

const source: Source = {
  kind: 'git',
  read: async () => ({ kind: 'git', revision: 'c1', ref: 'main', files: [] }),
  onChange: () => () => undefined,
  close: async () => undefined,
};
const parse = (): ManifestSet => ({ root: '', digest: 'd', cluster: {} as never, documents: [] });

describe('emergency pause in etcd', () => {
  it('reads JSON from the agent and plain text from etcdctl; the watch flag follows both', async () => {
    const c = client();
    const cluster = 'pausecl';
    const watch = await watchPause(c, cluster, log);
    try {
      expect(watch.current()).toBeNull();
      await setPause(c, cluster, { by: 'alice', reason: 'upgrade' });
      await waitFor(async () => watch.current()?.by === 'alice', {
        what: 'watch',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(await getPause(c, cluster)).toMatchObject({ by: 'alice', reason: 'upgrade' });

      const t0 = Date.now();
      await etcd.etcdctl('put', pauseKey(cluster), 'disk full on node 2');
      await waitFor(async () => watch.current()?.by === 'etcdctl', {
        what: 'watch',
        timeoutMs: 5000,
        intervalMs: 5,
      });
      const seenMs = Date.now() - t0;
      expect(watch.current()).toEqual({
        by: 'etcdctl',
        reason: 'disk full on node 2',
        since: null,
      });
      const stamped = await stampPause(c, cluster);
      expect(stamped?.since).toMatch(/^\d{4}-/);
      expect(await getPause(c, cluster)).toEqual(stamped);

      await etcd.etcdctl('del', pauseKey(cluster));
      await waitFor(async () => watch.current() === null, {
        what: 'watch',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(await clearPause(c, cluster)).toBe(false);
      console.log(
        `pause set with etcdctl seen by the watch flag after ${seenMs} ms (incl. docker exec)`,
      );
    } finally {
      await watch.close();
    }
  });

  it('blocks actions while set (by API or etcdctl), reports it, and resume releases', async () => {
    const c = client();
    const cluster = 'pausecycle';
    const watch: PauseWatch = await watchPause(c, cluster, log);
    const store = new EtcdReportStore(c, cluster);
    const term = new AbortController();
    let pauseSetAt = 0;
    let flagMs = -1;
    const { backend, applied } = stepsBackend(4, async (a) => {
      if (a.n === 2) {
        // An operator pulls the brake by hand while step 2 runs.
        await etcd.etcdctl('put', pauseKey(cluster), 'stop now');
        pauseSetAt = Date.now();
        await waitFor(async () => watch.isPaused(), {
          what: 'pause flag',
          timeoutMs: 5000,
          intervalMs: 2,
        });
        flagMs = Date.now() - pauseSetAt;
      }
    });
    const cycle = createCycle({
      cluster,
      agentId: 'agent-a',
      source,
      parse,
      backends: [bindBackend(backend, null)],
      gate: new Gate({ pause: () => watch.current() }),
      pause: () => watch.current(),
      journal: new Journal({ etcd: c, cluster, holder: 'agent-a' }),
      leader: { isLeader: () => true, signal: () => term.signal },
      store,
      log,
    });
    try {
      const r1 = await cycle.run();
      const blockedAfterMs = Date.now() - pauseSetAt;
      expect(applied).toEqual(['steps:1', 'steps:2']);
      expect(r1.backends[0]?.actions.map((a) => a.result)).toEqual([
        'applied',
        'applied',
        'blocked',
        'blocked',
      ]);
      expect(r1.status).toBe('blocked');
      expect(r1.paused).toMatchObject({ by: 'etcdctl', reason: 'stop now' });
      console.log(
        `pause flag set ${flagMs} ms after the etcdctl put returned; the apply stopped at its next action (${blockedAfterMs} ms after)`,
      );

      // Paused through the API's function: a cycle starts nothing, observes, reports.
      await setPause(c, cluster, { by: 'bob', reason: 'maintenance' });
      await waitFor(async () => watch.current()?.by === 'bob', {
        what: 'watch',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      const r2 = await cycle.run();
      expect(applied).toHaveLength(2);
      expect(r2.paused).toMatchObject({ by: 'bob', reason: 'maintenance' });
      expect(r2.backends[0]?.items.map((i) => i.state)).toEqual(['blocked', 'blocked']);
      expect((await store.latest())?.paused?.by).toBe('bob');

      await clearPause(c, cluster);
      await waitFor(async () => !watch.isPaused(), {
        what: 'resume',
        timeoutMs: 5000,
        intervalMs: 20,
      });
      const r3 = await cycle.run();
      expect(applied).toEqual(['steps:1', 'steps:2', 'steps:3', 'steps:4']);
      expect(r3.status).toBe('in-sync');
      expect(r3.paused).toBeNull();
      expect((await store.history()).map((r) => r.seq)).toEqual([3, 2, 1]);
    } finally {
      await watch.close();
    }
  });
});

describe('journal', () => {
  it('never repeats a completed step across two instances, and reruns an unfinished one', async () => {
    const cluster = 'journalcl';
    const a = new Journal({ etcd: client(), cluster, holder: 'agent-a' });
    const b = new Journal({ etcd: client(), cluster, holder: 'agent-b' });
    let runs = 0;
    const work = async () => ++runs;
    expect(await a.runOnce('swarm:scale:w1:3', work, { summary: 'scale' })).toMatchObject({
      ran: true,
      value: 1,
    });
    const skipped = await b.runOnce('swarm:scale:w1:3', work);
    expect(skipped).toMatchObject({
      ran: false,
      entry: { state: 'done', holder: 'agent-a', summary: 'scale' },
    });
    expect(runs).toBe(1);

    // agent-a died in the middle of a step: the entry says started; agent-b runs it again.
    const c = client();
    await c.put(journalKey(cluster, 'shards:move:7')).value(
      JSON.stringify({
        key: 'shards:move:7',
        state: 'started',
        holder: 'agent-a',
        startedAt: new Date().toISOString(),
      }),
    );
    expect(await b.runOnce('shards:move:7', work)).toMatchObject({
      ran: true,
      entry: { holder: 'agent-b' },
    });
    await expect(b.runOnce('fails', async () => Promise.reject(new Error('nope')))).rejects.toThrow(
      'nope',
    );
    expect(await a.get('fails')).toMatchObject({ state: 'failed', error: 'nope' });
    expect((await a.list()).map((e) => e.key).sort()).toEqual([
      'fails',
      'shards:move:7',
      'swarm:scale:w1:3',
    ]);
    expect(await a.prune(new Date(Date.now() + 1000))).toBe(3);
  });

  it('lets entries expire with their lease', async () => {
    const j = new Journal({
      etcd: client(),
      cluster: 'journalttl',
      holder: 'a',
      retentionSeconds: 2,
    });
    await j.runOnce('short', async () => undefined);
    expect(await j.get('short')).not.toBeNull();
    await waitFor(async () => (await j.get('short')) === null, {
      what: 'expiry',
      timeoutMs: 10_000,
      intervalMs: 250,
    });
  });
});

describe('leader election', () => {
  it('one of two candidates leads; when its client dies the other takes over within the TTL', async () => {
    const cluster = 'leadercl';
    const ttl = 3;
    const ca = client();
    const a = new LeaderElection({ etcd: ca, cluster, id: 'agent-a', ttlSeconds: ttl, log });
    const b = new LeaderElection({ etcd: client(), cluster, id: 'agent-b', ttlSeconds: ttl, log });
    const events: string[] = [];
    a.onChange((l) => events.push(`a:${l}`));
    b.onChange((l) => events.push(`b:${l}`));
    await a.start();
    await waitFor(async () => a.isLeader(), { what: 'a leads', timeoutMs: 5000, intervalMs: 20 });
    await b.start();
    expect(b.isLeader()).toBe(false);
    expect(await b.currentLeader()).toBe('agent-a');
    const termA = a.signal();
    expect(termA.aborted).toBe(false);

    const t0 = Date.now();
    ca.close(); // the leader's connection dies: no more keepalives
    await waitFor(async () => !a.isLeader(), {
      what: 'a steps down',
      timeoutMs: ttl * 1000,
      intervalMs: 20,
    });
    const stepDownMs = Date.now() - t0;
    expect(termA.aborted).toBe(true);
    await waitFor(async () => b.isLeader(), {
      what: 'b takes over',
      timeoutMs: ttl * 1000 + 2000,
      intervalMs: 20,
    });
    const takeoverMs = Date.now() - t0;
    // The old leader stopped before the new one began: never two leaders at once.
    expect(stepDownMs).toBeLessThan(takeoverMs);
    expect(await b.currentLeader()).toBe('agent-b');
    expect(events).toEqual(['a:true', 'a:false', 'b:true']);
    console.log(
      `ttl ${ttl} s: old leader stepped down after ${stepDownMs} ms, new leader after ${takeoverMs} ms`,
    );

    // A resigning leader hands over at once.
    const c = new LeaderElection({ etcd: client(), cluster, id: 'agent-c', ttlSeconds: ttl, log });
    await c.start();
    const t1 = Date.now();
    await b.stop();
    await waitFor(async () => c.isLeader(), {
      what: 'c takes over',
      timeoutMs: 2000,
      intervalMs: 20,
    });
    expect(Date.now() - t1).toBeLessThan(1500);
    await c.stop();
    await a.stop();
    expect(await c.currentLeader()).toBeNull();
  });
});

describe('report store in etcd', () => {
  it('keeps the last 50 reports, newest first', async () => {
    const store = new EtcdReportStore(client(), 'storecl');
    for (let i = 0; i < 53; i++) await store.save(sampleReport({ agent: `a${i}` }));
    const all = await store.history(100);
    expect(all).toHaveLength(50);
    expect(all[0]?.seq).toBe(53);
    expect(all[49]?.seq).toBe(4);
    expect((await store.latest())?.agent).toBe('a52');
    expect(await store.history(3)).toHaveLength(3);
  });
});
