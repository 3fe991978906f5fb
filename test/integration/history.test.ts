/**
 * The per-revision history against a real git repository and a real etcd: 600 revisions
 * pushed one after another, each read by the agent's GitSource and run through the real
 * cycle, with a clock that moves two hours per revision (600 revisions span 50 days).
 * The history keeps the newest 500 (more than 30 days' worth), drops the oldest, and lists
 * a rejected revision under its own id with its commit subject and author.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestInvalidError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { createEtcdClient, type Etcd3 } from '../../agent/etcd/client.js';
import { Gate } from '../../agent/gate/gate.js';
import { MemoryJournal } from '../../agent/journal/memory.js';
import type { ManifestSet } from '../../agent/manifests/types.js';
import { createCycle } from '../../agent/pipeline/cycle.js';
import { EtcdRevisionHistory } from '../../agent/report/history.js';
import { MemoryReportStore } from '../../agent/report/store.js';
import { GitSource } from '../../agent/sources/git.js';
import type { SourceFile } from '../../agent/sources/types.js';
import { startEtcd, type EtcdContainer } from '../helpers/etcd-container.js';

const run = promisify(execFile);
const git = async (cwd: string, ...args: string[]): Promise<string> =>
  (await run('git', args, { cwd })).stdout.trim();

function parse(files: SourceFile[]): ManifestSet {
  const content = files.map((f) => f.content).join('');
  if (!/^n=\d+\n$/.test(content)) {
    throw new ManifestInvalidError([{ file: 'cluster.txt', field: '/n', reason: 'not a number' }]);
  }
  return { root: '', digest: content, cluster: {} as never, documents: [] };
}

let etcdC: EtcdContainer;
let etcd: Etcd3;
let dir: string;

beforeAll(async () => {
  etcdC = await startEtcd('pgmtest-rc-history-etcd');
  etcd = createEtcdClient({ hosts: [etcdC.url] });
  dir = await mkdtemp(join(tmpdir(), 'pgmtest-rc-history-'));
});

afterAll(async () => {
  etcd?.close();
  await etcdC?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('per-revision history', () => {
  it('600 revisions: the newest 500 kept, the oldest dropped, rejected ones under their own id', async () => {
    const repo = join(dir, 'manifests');
    await run('git', ['init', '-q', '--initial-branch', 'main', repo]);
    const source = new GitSource({
      url: repo,
      branch: 'main',
      path: '',
      workDir: join(dir, 'work'),
      pollIntervalMs: 3_600_000,
      log: silentLogger(),
    });
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    let clock = t0;
    const now = (): Date => new Date(clock);
    const history = new EtcdRevisionHistory(
      etcd,
      'hist',
      { keepRevisions: 500, keepDays: 30 },
      now,
    );
    const cycle = createCycle({
      cluster: 'hist',
      agentId: 'a1',
      source,
      parse,
      backends: [],
      gate: new Gate({ pause: () => null }),
      pause: () => null,
      journal: new MemoryJournal('a1'),
      leader: { isLeader: () => true, signal: () => new AbortController().signal },
      store: new MemoryReportStore(),
      history,
      log: silentLogger(),
      now,
    });
    // All 600 commits are made at once (one git fast-import); the branch is then moved to
    // each in turn, as 600 pushes would, and the cycle reads it through the real GitSource.
    const marks = join(dir, 'marks');
    let stream = '';
    for (let i = 0; i < 600; i++) {
      const content = i % 10 === 9 ? `n=bad${i}\n` : `n=${i}\n`;
      const msg = `revision ${i}`;
      stream += `commit refs/heads/import\nmark :${i + 1}\ncommitter History Test <history@test> ${1767225600 + i} +0000\ndata ${msg.length}\n${msg}\n`;
      if (i > 0) stream += `from :${i}\n`;
      stream += `M 100644 inline cluster.txt\ndata ${content.length}\n${content}\n`;
    }
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'git',
        ['fast-import', '--quiet', `--export-marks=${marks}`],
        { cwd: repo },
        (err) => (err ? reject(err) : resolve()),
      );
      child.stdin?.end(stream);
    });
    const shas = (await readFile(marks, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string])
      .sort((a, b) => Number(a[0].slice(1)) - Number(b[0].slice(1)))
      .map(([, sha]) => sha);
    const commits = shas.map((sha, i) => ({ sha, rejected: i % 10 === 9 }));
    expect(commits).toHaveLength(600);
    try {
      for (let i = 0; i < 600; i++) {
        await git(repo, 'update-ref', 'refs/heads/main', commits[i]?.sha ?? '');
        clock = t0 + i * 2 * 3_600_000;
        const report = await cycle.run('commit');
        expect(report.source.revision).toBe(commits[i]?.sha);
      }
    } finally {
      await source.close();
    }
    const kept = await history.list(1000);
    expect(kept).toHaveLength(500);
    // Newest first: the last 500 commits, in order; the first 100 were dropped.
    expect(kept.map((r) => r.revision)).toEqual(
      commits
        .slice(100)
        .map((c) => c.sha)
        .reverse(),
    );
    for (const r of kept) {
      const c = commits.find((x) => x.sha === r.revision);
      expect(r.outcome).toBe(c?.rejected ? 'rejected' : 'in-sync');
      expect(r.author).toBe('History Test <history@test>');
      expect(r.subject).toMatch(/^revision \d+$/);
    }
    const keys = await etcd.getAll().prefix('/pgmesh/hist/revisions/').keys();
    expect(keys).toHaveLength(500);
  });
});
