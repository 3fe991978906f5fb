import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { execInService } from '../docker/client.js';
import { groupServiceName, secretName } from '../core/names.js';
import type { ClusterManifest } from '../manifests/types.js';

/** Where the CLI keeps what the user needs to connect: ~/.pgmesh/<cluster>/ (0700). */
export function stateDir(cluster: string): string {
  return join(process.env.PGMESH_HOME ?? join(homedir(), '.pgmesh'), cluster);
}

export function pgpassPath(cluster: string): string {
  return join(stateDir(cluster), 'pgpass');
}

async function writePrivate(path: string, content: string): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
}

/** Keeps the database password where only this user can read it, and a pgpass file for psql. */
export async function savePassword(m: ClusterManifest, password: string): Promise<void> {
  const cluster = m.metadata.name;
  const dir = stateDir(cluster);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writePrivate(join(dir, 'postgres-password'), password);
  const { readWrite, readOnly } = m.spec.haproxy.ports;
  const lines = ['127.0.0.1', 'localhost'].flatMap((h) =>
    [readWrite, readOnly].map((p) => `${h}:${p}:*:postgres:${password.replace(/[:\\]/g, '\\$&')}`),
  );
  await writePrivate(pgpassPath(cluster), `${lines.join('\n')}\n`);
}

/** Keeps the generated secrets a user needs on this host (0600), at the moment of creation. */
export function secretSink(m: ClusterManifest): (name: string, value: string) => Promise<void> {
  return async (name, value) => {
    const cluster = m.metadata.name;
    if (name === secretName(cluster, 'postgres-password')) await savePassword(m, value);
    if (name === secretName(cluster, 'replication-password')) return;
    // The agent's token and webhook secret, and the roles' passwords: what a user needs
    // to call the API, configure a webhook, or log in as a role.
    const file = name.startsWith(`${cluster}-`) ? name.slice(cluster.length + 1) : name;
    await mkdir(stateDir(cluster), { recursive: true, mode: 0o700 });
    await writePrivate(join(stateDir(cluster), file), value);
  };
}

/**
 * The database password: from the state dir, or, when this host lost it, read back from
 * the secret file inside a running coordinator (and kept again).
 */
export async function readPassword(docker: Docker, m: ClusterManifest): Promise<string> {
  try {
    return (await readFile(join(stateDir(m.metadata.name), 'postgres-password'), 'utf8')).trim();
  } catch {
    const r = await execInService(
      docker,
      groupServiceName(m.metadata.name, m.spec.coordinator.name),
      ['cat', '/run/secrets/postgres-password'],
    );
    if (r.exitCode !== 0) throw new Error('cannot read the database password from a coordinator');
    const password = r.stdout.trim();
    await savePassword(m, password);
    return password;
  }
}

export async function forgetState(cluster: string): Promise<void> {
  await rm(stateDir(cluster), { recursive: true, force: true });
}
