import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { HostSetupError, RegistryUnreachableError } from '../core/errors.js';
import { labOfDockerHost, localEngine } from '../lab/lab.js';
import { remoteEngineHost, taskNodeAddresses } from '../docker/client.js';
import { haproxyServiceName } from '../core/names.js';
import { silentLogger } from '../core/log.js';
import { builderEnv, buildImages } from '../host/images.js';
import { checkRegistry, pushImages } from '../host/registry.js';
import type { ImageSet } from '../backends/swarm/render.js';
import type { ClusterManifest } from '../manifests/types.js';

/** The repository root: the folder above this file that holds pgmesh's package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (
      existsSync(join(dir, 'package.json')) &&
      existsSync(join(dir, 'scripts', 'host-setup.sh'))
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new HostSetupError('cannot find the pgmesh repository root');
    dir = parent;
  }
}

export const BASE_IMAGE = process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie';

/**
 * Runs scripts/host-setup.sh: a Docker engine, a single-node Swarm, the base image. For a
 * remote swarm (DOCKER_HOST over TCP) this machine only builds: its engine and base image
 * are made ready, not a swarm of its own.
 */
export async function ensureHost(
  onProgress: (line: string) => void,
  options: { remoteSwarm?: boolean } = {},
): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...builderEnv(), PGMESH_BASE_IMAGE: BASE_IMAGE };
  if (options.remoteSwarm) env.PGMESH_HOST_SETUP_SKIP_SWARM = '1';
  const child = spawn('bash', [join(repoRoot(), 'scripts', 'host-setup.sh')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      onProgress(line.replace(/^host-setup: /, ''));
    });
  }
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) {
    throw new HostSetupError(`host setup failed (exit ${code}):\n${lines.slice(-10).join('\n')}`);
  }
}

/**
 * Image tags for the cluster: pinned in the manifest, else from the environment (the agent
 * service is given them by `up`), else built here from images/ (cached by input hash, so
 * an unchanged image is only hashed, not rebuilt). With a registry (the manifest's
 * `spec.images.registry`, else `options.registry`), what is built here is pushed there and
 * named by digest; the registry is checked first, so an unreachable one changes nothing.
 */
export async function resolveImages(
  m: ClusterManifest,
  options: { onProgress?: (line: string) => void; registry?: string } = {},
): Promise<ImageSet> {
  const names = ['pgnode', 'etcd', 'haproxy', 'agent'] as const;
  const fromEnv = (n: (typeof names)[number]): string | undefined =>
    process.env[`PGMESH_IMAGE_${n.toUpperCase()}`];
  const pinned: Partial<ImageSet> = Object.fromEntries(
    names.map((n) => [n, m.spec.images[n] ?? fromEnv(n)]).filter(([, v]) => v),
  );
  const missing = names.filter((n) => !pinned[n]);
  if (missing.length === 0) return pinned as ImageSet;
  const registry = m.spec.images.registry ?? options.registry;
  if (registry) await checkRegistry(registry);
  const built = await buildImages({
    repoRoot: repoRoot(),
    base: BASE_IMAGE,
    log: silentLogger(),
    onProgress: options.onProgress,
    only: [...missing],
  });
  const pushed = registry ? await pushImages(registry, built, options) : built;
  return { ...pushed, ...pinned } as ImageSet;
}

/**
 * The registry the cluster's nodes pull from: the manifest's `spec.images.registry`, else
 * the lab's when DOCKER_HOST names a `pgmesh lab` host, else none, which is refused on a
 * swarm of several nodes (a node without the image could not run its task).
 */
export async function resolveRegistry(
  m: ClusterManifest,
  docker: Docker,
  onInfo?: (line: string) => void,
): Promise<string | undefined> {
  if (m.spec.images.registry) return m.spec.images.registry;
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    const lab = await labOfDockerHost(localEngine(), dockerHost);
    if (lab) {
      onInfo?.(`using the registry of lab ${lab.name} (${lab.registryAddress})`);
      return lab.registryAddress;
    }
  }
  const nodes = await docker.listNodes().catch(() => []);
  if (nodes.length > 1) {
    throw new RegistryUnreachableError(
      `the swarm has ${nodes.length} nodes and spec.images.registry names no registry they can pull from; set it in the Cluster manifest; nothing was built or changed`,
    );
  }
  return undefined;
}

/**
 * Where clients reach HAProxy: 127.0.0.1 on this machine's swarm; on a remote swarm, the
 * address of every node that runs a HAProxy task (ports are published on those hosts).
 */
export async function endpointHosts(docker: Docker, m: ClusterManifest): Promise<string[]> {
  const remote = remoteEngineHost(docker);
  if (!remote) return ['127.0.0.1'];
  const hosts = await taskNodeAddresses(docker, haproxyServiceName(m.metadata.name));
  return hosts.length > 0 ? hosts : [remote];
}
