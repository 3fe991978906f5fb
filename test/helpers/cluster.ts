import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { simpleGit } from 'simple-git';
import { localRepositoryPath } from '../../agent/core/names.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { createDocker, type Docker } from '../../agent/docker/client.js';
import { loadManifestSet } from '../../agent/manifests/load.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { readPassword } from '../../agent/cli/state.js';
import { REPO } from './cli.js';

export const MANIFESTS = join(REPO, 'manifests');

export async function defaultCluster(): Promise<ClusterManifest> {
  return (await loadManifestSet(MANIFESTS)).cluster;
}

let docker: Docker | undefined;
export function testDocker(): Docker {
  docker ??= createDocker();
  return docker;
}

/** A client through HAProxy's read-write (or read-only) port, as a user connects. */
export async function connect(
  m: ClusterManifest,
  endpoint: 'read-write' | 'read-only' = 'read-write',
  extra: Pick<pg.ClientConfig, 'query_timeout' | 'connectionTimeoutMillis'> = {},
): Promise<pg.Client> {
  const password = await readPassword(testDocker(), m);
  const client = new pg.Client({
    host: '127.0.0.1',
    port:
      endpoint === 'read-write' ? m.spec.haproxy.ports.readWrite : m.spec.haproxy.ports.readOnly,
    user: 'postgres',
    password,
    database: m.spec.postgres.database,
    connectionTimeoutMillis: 5000,
    ...extra,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * The manifests the cluster runs now: the tip of the agent's repository (other test files
 * may have pushed to it, e.g. a third worker group), else the repository's manifests/.
 */
async function currentManifests(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgmesh-manifests-'));
  const repo = localRepositoryPath('pgmesh');
  if (existsSync(repo)) {
    await simpleGit().clone(repo, dir);
    await rm(join(dir, '.git'), { recursive: true, force: true });
  } else {
    await cp(MANIFESTS, dir, { recursive: true });
  }
  return dir;
}

/** A copy of the current manifests in a temp folder, edited by `edit` on the Cluster doc. */
export async function editedManifests(
  edit: (doc: ReturnType<typeof parseDocument>) => void,
): Promise<string> {
  const dir = await currentManifests();
  const file = join(dir, 'cluster.yaml');
  const doc = parseDocument(await readFile(file, 'utf8'));
  edit(doc);
  await writeFile(file, doc.toString());
  return dir;
}

/** A temp folder holding the current manifests plus one extra file. */
export async function manifestsWith(file: string, content: string): Promise<string> {
  const dir = await currentManifests();
  await writeFile(join(dir, file), content);
  return dir;
}
