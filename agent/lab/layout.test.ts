import { describe, expect, it } from 'vitest';
import { PgmeshError } from '../core/errors.js';
import {
  checkLabMemory,
  DEFAULT_LAB,
  LAB_HOST_BYTES,
  LAB_RESERVE_BYTES,
  labLayout,
  managerCount,
  memAvailableBytes,
} from './layout.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof PgmeshError ? err.code : 'not a PgmeshError';
  }
  return undefined;
}

describe('lab layout', () => {
  it('gives each host a fixed address, its own name and the first three hosts the manager role', () => {
    const lab = labLayout({ ...DEFAULT_LAB, hosts: 4 });
    expect(lab.hosts.map((h) => [h.container, h.hostname, h.ip, h.role])).toEqual([
      ['pgmesh-lab-1', 'lab-1', '192.168.213.11', 'manager'],
      ['pgmesh-lab-2', 'lab-2', '192.168.213.12', 'manager'],
      ['pgmesh-lab-3', 'lab-3', '192.168.213.13', 'manager'],
      ['pgmesh-lab-4', 'lab-4', '192.168.213.14', 'worker'],
    ]);
    expect(lab.registry.ip).toBe('192.168.213.2');
    expect(lab.registryAddress).toBe('127.0.0.1:5213');
    expect(lab.dataRoot).toBe('/var/lib/pgmesh-lab');
  });

  it('has one manager below three hosts (two managers would lose quorum with either host)', () => {
    expect([1, 2, 3, 5].map(managerCount)).toEqual([1, 1, 3, 3]);
  });

  it('refuses --hosts 0, too many hosts and a subnet the inner engines use', () => {
    expect(codeOf(() => labLayout({ ...DEFAULT_LAB, hosts: 0 }))).toBe('PGMESH_LAB_INPUT');
    expect(codeOf(() => labLayout({ ...DEFAULT_LAB, hosts: Number.NaN }))).toBe('PGMESH_LAB_INPUT');
    expect(codeOf(() => labLayout({ ...DEFAULT_LAB, hosts: 10 }))).toBe('PGMESH_LAB_INPUT');
    expect(codeOf(() => labLayout({ ...DEFAULT_LAB, subnet: '10.1.2.0/24' }))).toBe(
      'PGMESH_LAB_INPUT',
    );
    expect(codeOf(() => labLayout({ ...DEFAULT_LAB, subnet: '192.168.1.0/16' }))).toBe(
      'PGMESH_LAB_INPUT',
    );
    expect(() => labLayout({ ...DEFAULT_LAB, hosts: 0 })).toThrow(/at least 1 host/);
  });

  it('refuses a lab that does not fit in the memory available, naming both figures', () => {
    const meminfo = 'MemTotal:       24000000 kB\nMemAvailable:    8388608 kB\n';
    const available = memAvailableBytes(meminfo);
    expect(available).toBe(8 * 1024 ** 3);
    expect(() => checkLabMemory(2, available)).not.toThrow();
    expect(codeOf(() => checkLabMemory(3, available))).toBe('PGMESH_LAB_INPUT');
    expect(() => checkLabMemory(3, available)).toThrow(
      /needs about 8\.5 GiB.*8\.0 GiB is available/,
    );
    expect(3 * LAB_HOST_BYTES + LAB_RESERVE_BYTES).toBeGreaterThan(available);
  });
});
