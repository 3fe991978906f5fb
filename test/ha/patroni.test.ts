/**
 * The patroni backend against a real small cluster on Swarm (`pgmtest-ha`, see
 * test/chaos/ha-cluster.ts): a reload-only change, a change that needs a rolling restart
 * (with a writer through HAProxy measuring the switchover's write gap, and a sampler
 * checking that at most one member of the group is down at a time), the decrease order,
 * and bad input that changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupServiceName } from '../../agent/core/names.js';
import { ManifestInvalidError } from '../../agent/core/errors.js';
import { serviceContainers } from '../../agent/docker/client.js';
import {
  deployHa,
  psqlIn,
  scopeState,
  teardownHa,
  waitScopeHealthy,
  type HaCluster,
} from '../chaos/ha-cluster.js';
import {
  convergePatroni,
  dcsMaxConnections as dcsMaxConnectionsOf,
  patroniConfigYaml,
  plannedActions,
  sampleDown as sampleDownIn,
  setWith,
} from '../chaos/rolling.js';
import { measure, startWriter } from '../chaos/writer.js';

let h: HaCluster;
const say = (line: string): void => void process.stderr.write(`[patroni] ${line}\n`);

const config = patroniConfigYaml;
const converge = (yaml: string): Promise<string[]> => convergePatroni(h, yaml, say);
const planned = (yaml: string): Promise<number> => plannedActions(h, yaml);
const sampleDown = (scope: string): { stop(): Promise<number> } => sampleDownIn(h, scope);
const dcsMaxConnections = (scope: string): Promise<number> => dcsMaxConnectionsOf(h, scope);

async function showOnEveryMember(scope: string, name: string): Promise<string[]> {
  const service = groupServiceName(h.m.metadata.name, scope);
  const running = (await serviceContainers(h.docker, service)).filter((c) => c.state === 'running');
  return Promise.all(running.map((c) => psqlIn(h, c.id, `SHOW ${name}`)));
}

beforeAll(async () => {
  h = await deployHa(say);
}, 900_000);

afterAll(async () => {
  if (h && process.env.PGMESH_HA_KEEP !== '1') await teardownHa(h.docker, h.m);
}, 300_000);

describe('patroni backend on a real cluster', () => {
  it('applies a reload-only change without restarts, then plans nothing', async () => {
    // Another value than the live one, so a kept cluster (PGMESH_HA_REUSE) changes too.
    const now = (await showOnEveryMember('coord', 'work_mem'))[0];
    const value = now === '8MB' ? '6MB' : '8MB';
    const yaml = config('coord', `postgresql:\n  parameters:\n    work_mem: ${value}`);
    expect(await converge(yaml)).toEqual(['patch-config']);
    expect(await planned(yaml)).toBe(0);
    await expect
      .poll(() => showOnEveryMember('coord', 'work_mem'), { timeout: 20_000, interval: 500 })
      .toEqual([value, value]);
  });

  it('a change needing a restart: replicas first, switchover, old primary; one member down at most', async () => {
    await waitScopeHealthy(h, 'coord');
    const before = await scopeState(h, 'coord');
    const writer = await startWriter(h, 'coord', Date.now() * 1000);
    await expect.poll(() => writer.acked(), { timeout: 60_000, interval: 500 }).toBeGreaterThan(10);
    const sampler = sampleDown('coord');
    const t0 = Date.now();
    const next = (await dcsMaxConnections('coord')) + 20;
    const yaml = config(
      'coord',
      `postgresql:
  parameters:
    max_connections: ${next}`,
    );
    const kinds = await converge(yaml);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const maxDown = await sampler.stop();
    const log = await writer.stop();
    const numbers = measure(log, t0);
    say(
      `rolling restart of coord took ${seconds.toFixed(1)} s; longest write gap ${numbers.maxGapSeconds.toFixed(2)} s; ` +
        `${log.errors.length} failed write attempts, ${log.acks.length} acknowledged; at most ${maxDown} member(s) down`,
    );
    expect(kinds).toEqual(['patch-config', 'restart-member', 'switchover', 'restart-member']);
    expect(maxDown).toBeLessThanOrEqual(1);
    expect(await showOnEveryMember('coord', 'max_connections')).toEqual([`${next}`, `${next}`]);
    const after = await scopeState(h, 'coord');
    expect(after.leader).not.toBe(before.leader);
    expect(after.members.every((m) => !m.pendingRestart)).toBe(true);
    expect(await planned(yaml)).toBe(0);
  });

  it('a decrease restarts the primary first, then the replica', async () => {
    await waitScopeHealthy(h, 'w1');
    const sampler = sampleDown('w1');
    const next = (await dcsMaxConnections('w1')) - 10;
    const yaml = config('w1', `postgresql:\n  parameters:\n    max_connections: ${next}`);
    const kinds = await converge(yaml);
    const maxDown = await sampler.stop();
    expect(kinds).toEqual(['patch-config', 'restart-member', 'restart-member']);
    expect(maxDown).toBeLessThanOrEqual(1);
    expect(await showOnEveryMember('w1', 'max_connections')).toEqual([`${next}`, `${next}`]);
    expect(await planned(yaml)).toBe(0);
  });

  it('bad input is rejected by validation and changes nothing', async () => {
    const before = (await scopeState(h, 'coord')).config;
    for (const spec of [
      'ttl: 10',
      'ttl: 20\nloop_wait: 10\nretry_timeout: 10',
      'postgresql:\n  parameters:\n    max_conections: 100',
      'postgresql:\n  parameters:\n    max_connections: lots',
    ]) {
      expect(() => setWith(config('coord', spec))).toThrow(ManifestInvalidError);
    }
    expect((await scopeState(h, 'coord')).config).toEqual(before);
  });
});
