/**
 * The shape of a `pgmesh lab`: names, addresses, managers and the memory it needs. Pure,
 * so every check on the input runs before anything is created.
 */
import { LabInputError } from '../core/errors.js';

export interface LabOptions {
  /** Prefix of every outer Docker resource of the lab (containers, network, data root). */
  name: string;
  hosts: number;
  /** A /24 for the lab's bridge network, e.g. 192.168.213.0/24. */
  subnet: string;
  /** Port of the registry on the outer host's loopback, and on each lab host's. */
  registryPort: number;
}

export interface LabHostLayout {
  index: number;
  /** The outer container's name, also the host's cgroup parent. */
  container: string;
  /** The host's name inside the lab (its Swarm node's hostname). */
  hostname: string;
  ip: string;
  role: 'manager' | 'worker';
}

export interface LabLayout {
  name: string;
  network: string;
  subnet: string;
  gateway: string;
  registry: { container: string; ip: string; port: number; localPort: number };
  /** The registry's name as images carry it, the same on the builder and on every host. */
  registryAddress: string;
  dataRoot: string;
  hosts: LabHostLayout[];
}

export const DEFAULT_LAB: LabOptions = {
  name: 'pgmesh-lab',
  hosts: 3,
  subnet: '192.168.213.0/24',
  registryPort: 5213,
};

/** More hosts than this is not a lab for one machine; the memory check says the rest. */
export const MAX_LAB_HOSTS = 9;

/**
 * What one host costs with its share of the default cluster spread over 3 hosts: its
 * engine (dockerd, containerd: about 120 MiB) plus a third of the cluster (docs/multihost.md
 * has the measured peak). Rounded up, so the check errs towards refusing.
 */
export const LAB_HOST_BYTES = 1536 * 1024 * 1024;

/** Left for everything else on the machine (the builder, tests, other work). */
export const LAB_RESERVE_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * Managers: 3 from 3 hosts on, else 1. Three Raft members keep the swarm's control plane
 * (scheduling, service updates) working when any one host dies, which the host-fault
 * tests need; more would only slow Raft down on one machine, and with 2 hosts a second
 * manager would make either host's death stop the control plane (no majority of 2).
 */
export function managerCount(hosts: number): number {
  return hosts >= 3 ? 3 : 1;
}

function parseSubnet(subnet: string): [number, number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  const octets = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || octets.some((o) => o > 255)) {
    throw new LabInputError(`--subnet ${subnet}: a /24 such as 192.168.213.0/24 is needed`);
  }
  // The lab hosts' own engines use 172.17-18.x (bridge, gwbridge) and 10.0.x (overlays).
  if (octets[0] === 10 || (octets[0] === 172 && octets[1] >= 16 && octets[1] <= 31)) {
    throw new LabInputError(
      `--subnet ${subnet}: overlaps the address pools of the lab hosts' own engines (10.0.0.0/8, 172.16.0.0/12); use e.g. 192.168.213.0/24`,
    );
  }
  return octets as [number, number, number];
}

/** Names and addresses of a lab; throws LabInputError on input that cannot work. */
export function labLayout(options: LabOptions): LabLayout {
  const { hosts, name } = options;
  if (!Number.isInteger(hosts) || hosts < 1) {
    throw new LabInputError(`--hosts ${hosts}: a lab needs at least 1 host`);
  }
  if (hosts > MAX_LAB_HOSTS) {
    throw new LabInputError(`--hosts ${hosts}: at most ${MAX_LAB_HOSTS} hosts in a lab`);
  }
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
    throw new LabInputError(`lab name ${JSON.stringify(name)}: lower-case letters, digits, -`);
  }
  if (!Number.isInteger(options.registryPort) || options.registryPort < 1024) {
    throw new LabInputError(`registry port ${options.registryPort}: 1024-65535`);
  }
  const [a, b, c] = parseSubnet(options.subnet);
  const ip = (d: number): string => `${a}.${b}.${c}.${d}`;
  const managers = managerCount(hosts);
  return {
    name,
    network: `${name}-net`,
    subnet: options.subnet,
    gateway: ip(1),
    registry: {
      container: `${name}-registry`,
      ip: ip(2),
      port: 5000,
      localPort: options.registryPort,
    },
    registryAddress: `127.0.0.1:${options.registryPort}`,
    dataRoot: `/var/lib/${name}`,
    hosts: Array.from({ length: hosts }, (_, i) => ({
      index: i + 1,
      container: `${name}-${i + 1}`,
      hostname: `lab-${i + 1}`,
      ip: ip(11 + i),
      role: i < managers ? 'manager' : 'worker',
    })),
  };
}

/** MemAvailable from /proc/meminfo, in bytes. Pure. */
export function memAvailableBytes(meminfo: string): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  if (!m) throw new LabInputError('/proc/meminfo has no MemAvailable line');
  return Number(m[1]) * 1024;
}

/** Refuses a lab that would not fit in the memory available now. Pure. */
export function checkLabMemory(hosts: number, available: number): void {
  const needed = hosts * LAB_HOST_BYTES + LAB_RESERVE_BYTES;
  if (needed > available) {
    const gib = (n: number): string => (n / 1024 ** 3).toFixed(1);
    throw new LabInputError(
      `--hosts ${hosts}: needs about ${gib(needed)} GiB (${hosts} × ${gib(LAB_HOST_BYTES)} GiB per host with its share of the default cluster, plus ${gib(LAB_RESERVE_BYTES)} GiB left for the machine) and ${gib(available)} GiB is available (/proc/meminfo MemAvailable); nothing was created`,
    );
  }
}
