import { describe, expect, it } from 'vitest';
import { clusterManifest } from '../../../test/helpers/manifest-fixture.js';
import { diffShapes } from './shape.js';
import { DATABASE_DNS_OPTIONS, renderSwarm } from './render.js';

const images = { pgnode: 'p:1', etcd: 'e:1', haproxy: 'h:1', agent: 'a:1' };
const nodes = [{ id: 'n1', hostname: 'n1', ready: true, labels: {} }];

describe('renderSwarm: resolver options', () => {
  const desired = renderSwarm(clusterManifest(), { images, nodes });

  it('gives every database member one DNS attempt of 1 s, and nothing else', () => {
    const db = desired.services.filter((s) => s.role === 'coordinator' || s.role === 'worker');
    expect(db.map((s) => s.name)).toEqual(['pgmesh-coord', 'pgmesh-w1', 'pgmesh-w2']);
    for (const s of db) expect(s.shape.dnsOptions).toEqual(['timeout:1', 'attempts:1']);
    for (const s of desired.services.filter((x) => !db.includes(x)))
      expect(s.shape.dnsOptions).toEqual([]);
    expect(DATABASE_DNS_OPTIONS).toEqual(['timeout:1', 'attempts:1']);
  });

  it('a member service running without them is drift on dnsOptions (order does not matter)', () => {
    const coord = desired.services.find((s) => s.name === 'pgmesh-coord')!.shape;
    expect(diffShapes(coord, { ...coord, dnsOptions: [] })).toEqual([
      { field: 'dnsOptions', desired: ['attempts:1', 'timeout:1'], live: [] },
    ]);
    expect(diffShapes(coord, { ...coord, dnsOptions: ['attempts:1', 'timeout:1'] })).toEqual([]);
  });
});

describe('renderSwarm: the REST address by task name', () => {
  it("gives every database member its task's DNS name (Swarm's template), for Patroni's REST address", () => {
    const desired = renderSwarm(clusterManifest(), { images, nodes });
    for (const s of desired.services.filter((x) => ['coordinator', 'worker'].includes(x.role)))
      expect(s.shape.env).toContain('PGMESH_ADVERTISE_NAME={{.Task.Name}}');
  });
});
