import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit } from 'simple-git';
import { loadManifestSet } from '../manifests/load.js';
import type { ManifestSet } from '../manifests/types.js';
import { localRepositoryPath } from '../core/names.js';

const IDENTITY = ['-c', 'user.name=pgmesh', '-c', 'user.email=pgmesh@localhost'];

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The bare repository the agent reads when the manifest names none. Made on the first
 * `up` from the manifests folder; after that it is the source of truth (people push to it)
 * and `up` never overwrites it.
 */
export async function ensureLocalRepository(
  cluster: string,
  manifestsDir: string,
  branch: string,
): Promise<{ path: string; created: boolean }> {
  const path = localRepositoryPath(cluster);
  if (await exists(join(path, 'HEAD'))) return { path, created: false };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await simpleGit().raw(['init', '--bare', '--initial-branch', branch, path]);
  const work = await mkdtemp(join(tmpdir(), 'pgmesh-repo-'));
  try {
    const git = simpleGit(work);
    await git.raw(['init', '--initial-branch', branch]);
    for (const entry of await readdir(manifestsDir)) {
      await cp(join(manifestsDir, entry), join(work, entry), { recursive: true });
    }
    await git.add('.');
    await git.raw([...IDENTITY, 'commit', '-q', '-m', 'pgmesh up: the initial manifests']);
    await git.raw(['push', '-q', path, `HEAD:refs/heads/${branch}`]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { path, created: true };
}

/** The manifest set at the tip of the repository's branch, as the agent sees it. */
export async function loadFromRepository(
  repo: string,
  branch: string,
  path: string,
): Promise<{ set: ManifestSet; commit: string }> {
  const work = await mkdtemp(join(tmpdir(), 'pgmesh-read-'));
  try {
    await simpleGit().raw(['clone', '-q', '--depth', '1', '--branch', branch, repo, work]);
    const commit = (await simpleGit(work).revparse(['HEAD'])).trim();
    return { set: await loadManifestSet(join(work, path)), commit };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function removeLocalRepository(cluster: string): Promise<void> {
  await rm(dirname(localRepositoryPath(cluster)), { recursive: true, force: true });
}
