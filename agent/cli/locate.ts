/**
 * Which running cluster a command acts on, without reading the manifests' Git tip.
 * `pause`, `resume`, `status`, `drift`, `psql` and `history` must work when someone has
 * pushed a broken commit (that is when the emergency brake is needed), so they find the
 * cluster from `--cluster`, `PGMESH_CLUSTER` or the record `up` keeps in the state folder.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PgmeshError } from '../core/errors.js';
import { loadManifestSet } from '../manifests/load.js';
import type { ClusterManifest } from '../manifests/types.js';
import { stateDir } from './state.js';

const RECORD_FILE = 'cluster.json';
const RECORD_VERSION = 'pgmesh.io/cluster-record/v1';

interface ClusterRecord {
  version: typeof RECORD_VERSION;
  recordedAt: string;
  /** The Cluster manifest last applied from this host (it holds no secret values). */
  cluster: ClusterManifest;
}

export interface LocateOptions {
  cluster?: string;
  manifests?: string;
  /** The folder `up` reads by default; used only when no record names the cluster. */
  defaultManifests: string;
  env?: NodeJS.ProcessEnv;
}

function recordPath(cluster: string): string {
  return join(stateDir(cluster), RECORD_FILE);
}

/** Kept by `up` and `apply` after they applied: what later commands need to reach it. */
export async function recordCluster(m: ClusterManifest): Promise<void> {
  const path = recordPath(m.metadata.name);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const record: ClusterRecord = {
    version: RECORD_VERSION,
    recordedAt: new Date().toISOString(),
    cluster: m,
  };
  await writeFile(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

async function readRecord(cluster: string): Promise<ClusterManifest | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(cluster), 'utf8')) as ClusterRecord;
    return record.version === RECORD_VERSION ? record.cluster : undefined;
  } catch {
    return undefined;
  }
}

/** Clusters recorded on this host (a folder under the state root with a record). */
export async function recordedClusters(): Promise<string[]> {
  const root = dirname(stateDir('x'));
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, RECORD_FILE)))
    .map((e) => e.name)
    .sort();
}

/**
 * The Cluster manifest of the cluster to act on: `-m DIR` when given (that folder only),
 * else the record of `--cluster` / `PGMESH_CLUSTER` / the only recorded cluster, else the
 * default manifests folder (never the Git tip the agent follows).
 */
export async function locateCluster(opts: LocateOptions): Promise<ClusterManifest> {
  if (opts.manifests) return (await loadManifestSet(opts.manifests)).cluster;
  const env = opts.env ?? process.env;
  const named = opts.cluster ?? (env.PGMESH_CLUSTER || undefined);
  const recorded = await recordedClusters();
  const name = named ?? (recorded.length === 1 ? recorded[0] : undefined);
  if (name) {
    const record = await readRecord(name);
    if (record) return record;
  }
  // Several recorded and none named: the default folder's cluster, as before records.
  const fallback = await loadManifestSet(opts.defaultManifests).catch(() => undefined);
  if (fallback && (!name || fallback.cluster.metadata.name === name)) return fallback.cluster;
  const known = recorded.length ? ` (recorded here: ${recorded.join(', ')})` : '';
  throw new PgmeshError(
    'PGMESH_CLUSTER_UNKNOWN',
    name
      ? `no record of cluster ${name} on this host (${recordPath(name)})${known}; run pgmesh up, or pass -m DIR`
      : `no cluster is recorded on this host; name one with --cluster NAME, or pass -m DIR`,
  );
}
