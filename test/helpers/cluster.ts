import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
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
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A copy of the default manifests in a temp folder, edited by `edit` on the Cluster doc. */
export async function editedManifests(
  edit: (doc: ReturnType<typeof parseDocument>) => void,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgmesh-manifests-'));
  await cp(MANIFESTS, dir, { recursive: true });
  const file = join(dir, 'cluster.yaml');
  const doc = parseDocument(await readFile(file, 'utf8'));
  edit(doc);
  await writeFile(file, doc.toString());
  return dir;
}

/** A temp folder holding the default manifests plus one extra file. */
export async function manifestsWith(file: string, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgmesh-manifests-'));
  await cp(MANIFESTS, dir, { recursive: true });
  await writeFile(join(dir, file), content);
  return dir;
}
