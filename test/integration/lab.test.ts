/**
 * The lab smoke (issue #13): `pgmesh lab` input checks change nothing; a 3-host lab comes
 * up as one Swarm with 3 managers; an image pushed to the lab's registry runs on every host
 * (a global service pinned by digest); a host killed (its engine and containers at once)
 * leaves the swarm and, started again, rejoins with its task running: whole again. Every
 * outer resource is named pgmtest-lab-* and removed before and after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { pushImages } from '../../agent/host/registry.js';
import {
  hostEngine,
  labDown,
  labKillHost,
  labStartHost,
  labStatus,
  labUp,
  localEngine,
  swarmNodes,
  waitSwarmWhole,
  LABEL_LAB,
  type LabDeps,
} from '../../agent/lab/lab.js';
import type { LabLayout, LabOptions } from '../../agent/lab/layout.js';
import { REPO } from '../helpers/cli.js';

const NAME = 'pgmtest-labsmoke';
const options: LabOptions = {
  name: NAME,
  hosts: 3,
  subnet: '192.168.215.0/24',
  registryPort: 5215,
};
const outer = localEngine();
const deps: LabDeps = {
  outer,
  log: silentLogger(),
  repoRoot: REPO,
  baseImage: process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie',
};
const SERVICE = 'pgmtest-labsmoke-probe';
let lab: LabLayout;

async function leftovers(): Promise<number> {
  const containers = await outer.listContainers({
    all: true,
    filters: { label: [`${LABEL_LAB}=${NAME}`] },
  });
  const networks = await outer.listNetworks({ filters: { name: [`${NAME}-net`] } });
  return containers.length + networks.length;
}

/** Running tasks of the probe service per node hostname. */
async function probeHosts(): Promise<string[]> {
  const d = hostEngine(lab.hosts[0].ip);
  const tasks = (await d.listTasks({
    filters: { service: [SERVICE], 'desired-state': ['running'] },
  })) as Array<{ NodeID: string; Status: { State: string } }>;
  const nodes = await swarmNodes(lab);
  return tasks
    .filter((t) => t.Status.State === 'running')
    .map((t) => nodes.find((n) => n.ID === t.NodeID)?.Description?.Hostname ?? '?')
    .sort();
}

beforeAll(async () => {
  await labDown(outer, NAME);
}, 120_000);

afterAll(async () => {
  await labDown(outer, NAME);
}, 120_000);

describe('pgmesh lab', () => {
  it('refuses --hosts 0 and a lab larger than the memory available, creating nothing', async () => {
    await expect(labUp(deps, { ...options, hosts: 0 })).rejects.toMatchObject({
      code: 'PGMESH_LAB_INPUT',
    });
    await expect(
      labUp(deps, { ...options, meminfo: 'MemAvailable:    4194304 kB\n' }),
    ).rejects.toMatchObject({ code: 'PGMESH_LAB_INPUT', message: expect.stringMatching(/GiB/) });
    expect(await leftovers()).toBe(0);
  });

  it('comes up as one swarm of 3 hosts, 3 of them managers, with its registry', async () => {
    lab = await labUp(deps, options);
    const status = await labStatus(outer, NAME);
    expect(status?.hosts.map((h) => [h.hostname, h.state, h.node?.state])).toEqual([
      ['lab-1', 'running', 'ready'],
      ['lab-2', 'running', 'ready'],
      ['lab-3', 'running', 'ready'],
    ]);
    expect(status?.hosts.filter((h) => h.node?.manager).length).toBe(3);
    expect(status?.registry.state).toBe('running, up');
    expect(status?.dockerHost).toBe('tcp://192.168.215.11:2375');
  }, 300_000);

  it('runs an image from the registry on every host, pinned by digest', async () => {
    const { probe } = await pushImages(lab.registryAddress, { probe: deps.baseImage });
    expect(probe).toMatch(/^127\.0\.0\.1:5215\/pgmesh\/base@sha256:[0-9a-f]{64}$/);
    await hostEngine(lab.hosts[0].ip).createService({
      Name: SERVICE,
      TaskTemplate: { ContainerSpec: { Image: probe, Command: ['sleep', 'infinity'] } },
      Mode: { Global: {} },
    });
    await waitFor(
      async () => {
        const hosts = await probeHosts();
        return hosts.length === 3 ? hosts : `probe runs on ${hosts.join(',') || 'no host'}`;
      },
      { what: 'the probe on every host', timeoutMs: 180_000, intervalMs: 1000 },
    );
    expect(await probeHosts()).toEqual(['lab-1', 'lab-2', 'lab-3']);
  }, 300_000);

  it('loses a killed host and is whole again when it starts', async () => {
    await labKillHost(outer, lab, 3);
    await waitFor(
      async () => {
        const n = (await swarmNodes(lab)).find((x) => x.Description?.Hostname === 'lab-3');
        return n?.Status?.State === 'down' ? true : `lab-3 is ${n?.Status?.State}`;
      },
      { what: 'the swarm to see lab-3 down', timeoutMs: 120_000, intervalMs: 500 },
    );
    await labStartHost(outer, lab, 3);
    await waitSwarmWhole(lab, 120_000);
    await waitFor(
      async () => {
        const hosts = await probeHosts();
        return hosts.length === 3 ? true : `probe runs on ${hosts.join(',')}`;
      },
      { what: 'the probe on every host again', timeoutMs: 120_000, intervalMs: 1000 },
    );
  }, 300_000);

  it('goes away whole with lab down', async () => {
    await labDown(outer, NAME);
    expect(await leftovers()).toBe(0);
  }, 120_000);
});
