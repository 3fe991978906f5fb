import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { parseAllDocuments, parseDocument, type Document } from 'yaml';
import { callAgent } from '../../agent/cli/agent-api.js';
import { etcdctl as runEtcdctl } from '../../agent/cli/etcdctl.js';
import { localRepositoryPath } from '../../agent/core/names.js';
import { waitFor } from '../../agent/core/wait.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import type { DriftReport } from '../../agent/report/model.js';
import { testDocker } from './cluster.js';

/** A working clone of the cluster's manifests repository, as a user would push from. */
export class ManifestsClone {
  private constructor(
    readonly dir: string,
    private readonly git: SimpleGit,
  ) {}

  static async open(cluster: string): Promise<ManifestsClone> {
    const dir = await mkdtemp(join(tmpdir(), 'pgmesh-clone-'));
    await simpleGit().clone(localRepositoryPath(cluster), dir);
    const git = simpleGit(dir)
      .addConfig('user.name', 'e2e')
      .addConfig('user.email', 'e2e@localhost');
    return new ManifestsClone(dir, git);
  }

  /** Edits cluster.yaml, commits and pushes; returns the new commit. */
  async push(
    message: string,
    edit: (doc: ReturnType<typeof parseDocument>) => void,
  ): Promise<string> {
    const file = join(this.dir, 'cluster.yaml');
    const doc = parseDocument(await readFile(file, 'utf8'));
    edit(doc);
    await writeFile(file, doc.toString());
    return this.commitAndPush(message);
  }

  /** Edits every YAML document of `file` (e.g. memory.yaml), commits and pushes. */
  async pushDocs(message: string, file: string, edit: (docs: Document[]) => void): Promise<string> {
    const path = join(this.dir, file);
    const docs = parseAllDocuments(await readFile(path, 'utf8')) as Document[];
    edit(docs);
    await writeFile(path, docs.map((d) => d.toString()).join('---\n'));
    return this.commitAndPush(message);
  }

  async pushRaw(message: string, file: string, content: string): Promise<string> {
    await writeFile(join(this.dir, file), content);
    return this.commitAndPush(message);
  }

  private async commitAndPush(message: string): Promise<string> {
    await this.git.add('.');
    await this.git.commit(message);
    await this.git.push('origin', 'HEAD:main');
    return (await this.git.revparse(['HEAD'])).trim();
  }
}

export async function latestReport(m: ClusterManifest): Promise<DriftReport | null> {
  return (await callAgent(testDocker(), m, 'GET', '/api/drift')) as DriftReport | null;
}

export async function reportHistory(m: ClusterManifest, limit = 50): Promise<DriftReport[]> {
  return (await callAgent(
    testDocker(),
    m,
    'GET',
    `/api/drift/history?limit=${limit}`,
  )) as DriftReport[];
}

/** Waits for a report that acted on `commit` and says the cluster is in sync with it. */
export async function waitInSync(
  m: ClusterManifest,
  commit: string,
  timeoutMs = 300_000,
): Promise<DriftReport> {
  return waitFor(
    async () => {
      const r = await latestReport(m);
      if (!r) return 'no report yet';
      if (r.source.actedOn !== commit)
        return `report #${r.seq} acted on ${r.source.actedOn?.slice(0, 8)}`;
      return r.status === 'in-sync' ? r : `report #${r.seq} is ${r.status}`;
    },
    { what: `the agent to converge on ${commit.slice(0, 8)}`, timeoutMs, intervalMs: 1000 },
  );
}

/** etcdctl inside an etcd member, as an operator would run it. */
export async function etcdctl(cluster: string, args: string[]): Promise<string> {
  return runEtcdctl(testDocker(), cluster, args);
}

/** Waits until the agent reports the shards backend in sync (engine, schema, tables installed). */
export async function waitEngineInSync(m: ClusterManifest, timeoutMs = 300_000): Promise<void> {
  // Only a cycle that started after this call counts: it looked up the worker members'
  // addresses as they are now. An earlier report can say in sync while a member that an
  // earlier test killed came back on a new address the engine does not know yet.
  const since = Date.now();
  await waitFor(
    async () => {
      const r = await latestReport(m);
      if (!r || Date.parse(r.startedAt) < since) return 'no agent cycle since the wait began';
      const shards = r.backends.find((b) => b.backend === 'shards');
      return shards?.state === 'in-sync' ? true : `shards backend is ${shards?.state ?? 'absent'}`;
    },
    { what: 'the engine to be in sync', timeoutMs },
  );
}
