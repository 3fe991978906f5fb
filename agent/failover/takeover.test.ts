import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { PatroniStore } from '../backends/patroni/transport.js';
import { silentLogger } from '../core/log.js';
import { FencedFailover } from './watcher.js';

const KEY = '/patroni/coord/leader';
const DIE = { containerId: 'dead', service: 'pgmt-coord', slot: 1, exitCode: '137' };

/** An engine that reports coord-1's container dead, its task shut down, its node ready. */
function deadPrimaryEngine(): Docker {
  return {
    listServices: async () => [
      {
        Spec: {
          Name: 'pgmt-coord',
          Labels: { 'pgmesh.role': 'coordinator', 'pgmesh.group': 'coord' },
        },
      },
    ],
    getContainer: () => ({ inspect: async () => ({ State: { Running: false, Pid: 0 } }) }),
    listTasks: async () => [
      { NodeID: 'n1', Status: { State: 'shutdown', ContainerStatus: { ContainerID: 'dead' } } },
    ],
    getNode: () => ({ inspect: async () => ({ Status: { State: 'ready' } }) }),
  } as unknown as Docker;
}

/** One leader key; a put moves its revision, as in etcd. */
function store(initial: { value: string; modRevision: string }) {
  let key: { value: string; modRevision: string } | undefined = initial;
  const s: PatroniStore & { put(value: string): void; current(): typeof key } = {
    list: async () => (key ? [{ key: KEY, ...key }] : []),
    deleteIf: async (_k, value, modRevision) => {
      if (key?.value !== value || key.modRevision !== modRevision) return false;
      key = undefined;
      return true;
    },
    put(value) {
      key = { value, modRevision: String(Number(key?.modRevision ?? 0) + 1) };
    },
    current: () => key,
  };
  return s;
}

function fencer(s: PatroniStore, active: { now: boolean }): FencedFailover {
  return new FencedFailover({
    docker: deadPrimaryEngine(),
    cluster: 'pgmt',
    store: s,
    log: silentLogger(),
    active: () => active.now,
  });
}

describe('FencedFailover.takeOver', () => {
  it('fences on taking over a primary whose death it confirmed while not leading', async () => {
    const s = store({ value: 'coord-1', modRevision: '7' });
    const active = { now: false };
    const f = fencer(s, active);
    expect((await f.handle(DIE)).decision).toEqual({ act: false, reason: 'not active' });
    expect(s.current()).toBeDefined();
    active.now = true;
    const [outcome] = await f.takeOver();
    expect(outcome?.deleted).toBe(true);
    expect(s.current()).toBeUndefined();
    // Only once: a second takeover has nothing left to do.
    expect(await f.takeOver()).toEqual([]);
  });

  it('leaves a key that was written after the death (the restarted member took it back)', async () => {
    const s = store({ value: 'coord-1', modRevision: '7' });
    const active = { now: false };
    const f = fencer(s, active);
    await f.handle(DIE);
    s.put('coord-1');
    active.now = true;
    const [outcome] = await f.takeOver();
    expect(outcome?.deleted).toBe(false);
    expect(s.current()).toEqual({ value: 'coord-1', modRevision: '8' });
  });

  it('defers nothing when the dead member did not lead', async () => {
    const s = store({ value: 'coord-2', modRevision: '7' });
    const active = { now: false };
    const f = fencer(s, active);
    await f.handle(DIE);
    active.now = true;
    expect(await f.takeOver()).toEqual([]);
    expect(s.current()).toEqual({ value: 'coord-2', modRevision: '7' });
  });
});
