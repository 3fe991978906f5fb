import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { HostSetupError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { buildImages } from '../host/images.js';
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

/** Runs scripts/host-setup.sh: a Docker engine, a single-node Swarm, the base image. */
export async function ensureHost(onProgress: (line: string) => void): Promise<void> {
  const child = spawn('bash', [join(repoRoot(), 'scripts', 'host-setup.sh')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PGMESH_BASE_IMAGE: BASE_IMAGE },
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
 * an unchanged image is only hashed, not rebuilt).
 */
export async function resolveImages(
  m: ClusterManifest,
  options: { onProgress?: (line: string) => void } = {},
): Promise<ImageSet> {
  const names = ['pgnode', 'etcd', 'haproxy', 'agent'] as const;
  const fromEnv = (n: (typeof names)[number]): string | undefined =>
    process.env[`PGMESH_IMAGE_${n.toUpperCase()}`];
  const pinned: Partial<ImageSet> = Object.fromEntries(
    names.map((n) => [n, m.spec.images[n] ?? fromEnv(n)]).filter(([, v]) => v),
  );
  const missing = names.filter((n) => !pinned[n]);
  if (missing.length === 0) return pinned as ImageSet;
  const built = await buildImages({
    repoRoot: repoRoot(),
    base: BASE_IMAGE,
    log: silentLogger(),
    onProgress: options.onProgress,
    only: [...missing],
  });
  return { ...built, ...pinned } as ImageSet;
}
