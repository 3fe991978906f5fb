import { KINDS } from './kinds.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestInvalidError, PgmeshError, type ManifestProblem } from '../core/errors.js';
import { isManifestPath, loadManifestSet, parseManifestSetFromFiles } from './load.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const MINIMAL = `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: test
spec:
  coordinator:
    members: 1
`;

const temps: string[] = [];

afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Writes the files into a fresh temp folder and returns it. */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pgmesh-manifests-'));
  temps.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

/** Loads the folder and returns the problems it is rejected with. */
async function problemsOf(files: Record<string, string>): Promise<ManifestProblem[]> {
  const dir = await folder(files);
  const err = await loadManifestSet(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ManifestInvalidError);
  const invalid = err as ManifestInvalidError;
  expect(invalid.code).toBe('PGMESH_MANIFEST_INVALID');
  return [...invalid.problems];
}

/** The minimal manifest with `spec` lines appended (indented under spec). */
function withSpec(lines: string): string {
  return MINIMAL + lines.replace(/^/gm, '  ');
}

describe('loadManifestSet: valid sets', () => {
  it('loads the repository default manifests', async () => {
    const set = await loadManifestSet(path.join(REPO, 'manifests'));
    const { spec } = set.cluster;
    expect(set.cluster.metadata.name).toBe('pgmesh');
    expect(spec.etcd.members).toBe(3);
    expect(spec.coordinator).toMatchObject({ name: 'coord', members: 3, synchronousMode: true });
    expect(spec.workerGroups.map((g) => [g.name, g.members])).toEqual([
      ['w1', 2],
      ['w2', 2],
    ]);
    expect(spec.haproxy.ports).toEqual({ readWrite: 5432, readOnly: 5433, stats: 8404 });
    expect(spec.pgbouncer.poolMode).toBe('transaction');
    expect(set.documents.filter((d) => d.manifest.kind === 'Cluster')).toHaveLength(1);
    expect(set.documents[0]).toMatchObject({ file: 'cluster.yaml', index: 0 });
    expect(set.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('fills every default', async () => {
    const set = await loadManifestSet(await folder({ 'cluster.yaml': MINIMAL }));
    expect(set.cluster.spec).toEqual({
      images: {},
      etcd: { members: 3, placement: { constraints: [], spreadMembers: true } },
      coordinator: {
        name: 'coord',
        members: 1,
        synchronousMode: true,
        remove: false,
        placement: { constraints: [], spreadMembers: true },
      },
      workerGroups: [],
      haproxy: {
        ports: { readWrite: 5432, readOnly: 5433, stats: 8404 },
        placement: { constraints: [], spreadMembers: true },
      },
      pgbouncer: { poolMode: 'transaction', defaultPoolSize: 20, maxClientConn: 1000 },
      postgres: { database: 'pgmesh', maxConnections: 100, sharedBuffers: '64MB' },
      patroni: { ttl: 20, loopWait: 2, retryTimeout: 5, fencedFailover: true },
      agent: {
        replicas: 1,
        port: 8480,
        pollIntervalSeconds: 15,
        leaderTtlSeconds: 10,
        repository: { url: '', branch: 'main', path: '.' },
      },
    });
  });

  it('fills worker group defaults', async () => {
    const set = await loadManifestSet(
      await folder({ 'c.yaml': withSpec('workerGroups:\n  - name: w1\n    members: 2\n') }),
    );
    expect(set.cluster.spec.workerGroups[0]).toEqual({
      name: 'w1',
      members: 2,
      synchronousMode: false,
      remove: false,
      placement: { constraints: [], spreadMembers: true },
    });
  });

  it('returns a deeply frozen set', async () => {
    const set = await loadManifestSet(path.join(REPO, 'manifests'));
    expect(Object.isFrozen(set)).toBe(true);
    expect(Object.isFrozen(set.documents)).toBe(true);
    expect(Object.isFrozen(set.cluster.spec.workerGroups[0]!.placement.constraints)).toBe(true);
    expect(() => {
      (set.cluster.spec.coordinator as { members: number }).members = 5;
    }).toThrow(TypeError);
  });

  it('reads *.yaml and *.yml recursively in sorted order, several documents per file', async () => {
    const dir = await folder({
      'z/cluster.yml': `# header comment\n---\n${MINIMAL}---\n`,
      'a/notes.md': 'not a manifest',
      '.hidden/other.yaml': 'kind: Nonsense',
    });
    const set = await loadManifestSet(dir);
    expect(set.root).toBe(dir);
    expect(set.documents.map((d) => [d.file, d.index])).toEqual([['z/cluster.yml', 0]]);
  });

  it('digests paths and contents: same files, same digest; any change, another', () => {
    const a = parseManifestSetFromFiles([{ path: 'c.yaml', content: MINIMAL }]);
    const b = parseManifestSetFromFiles([{ path: 'c.yaml', content: MINIMAL }]);
    const renamed = parseManifestSetFromFiles([{ path: 'd.yaml', content: MINIMAL }]);
    const edited = parseManifestSetFromFiles([{ path: 'c.yaml', content: `${MINIMAL}# x\n` }]);
    expect(a.digest).toBe(b.digest);
    expect(renamed.digest).not.toBe(a.digest);
    expect(edited.digest).not.toBe(a.digest);
  });

  it('takes files in path order whatever order they are given in', () => {
    const files = [
      { path: 'b.yaml', content: MINIMAL.replace('name: test', 'name: second') },
      { path: 'a.yaml', content: MINIMAL },
    ];
    const err = catchError(() => parseManifestSetFromFiles(files));
    expect((err as ManifestInvalidError).problems[0]).toMatchObject({ file: 'b.yaml' });
  });
});

describe('loadManifestSet: missing sets', () => {
  it('a missing folder is PGMESH_MANIFEST_NOT_FOUND', async () => {
    const err = await loadManifestSet('/nonexistent/pgmesh-manifests').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgmeshError);
    expect((err as PgmeshError).code).toBe('PGMESH_MANIFEST_NOT_FOUND');
  });

  it('a folder without manifest files is PGMESH_MANIFEST_NOT_FOUND', async () => {
    const err = await loadManifestSet(await folder({ 'README.md': '# hi' })).catch(
      (e: unknown) => e,
    );
    expect((err as PgmeshError).code).toBe('PGMESH_MANIFEST_NOT_FOUND');
  });

  it('a set without a Cluster is invalid', async () => {
    const problems = await problemsOf({ 'empty.yaml': '# nothing yet\n' });
    expect(problems).toEqual([
      { file: '.', field: '', reason: expect.stringContaining('no Cluster manifest') },
    ]);
  });
});

describe('loadManifestSet: invalid sets name the file and the field', () => {
  it('unknown fields', async () => {
    const problems = await problemsOf({
      'c.yaml': withSpec('foo: 1\ncoordinatr: {}\n').replace('name: test', 'name: test\n  bar: 2'),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        { file: 'c.yaml', field: '/metadata/bar', reason: expect.stringContaining('unknown field "bar"') },
        { file: 'c.yaml', field: '/spec/foo', reason: expect.stringContaining('unknown field "foo"') },
        { file: 'c.yaml', field: '/spec/coordinatr', reason: expect.stringContaining('known fields: images') },
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('wrong types', async () => {
    const problems = await problemsOf({
      'c.yaml': withSpec(
        'etcd:\n  members: "3"\nworkerGroups:\n  - name: w1\n    members: 2.5\n    synchronousMode: yes\n',
      ),
    });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/etcd/members', reason: 'must be an integer, got "3" (a string)' },
      { file: 'c.yaml', field: '/spec/workerGroups/0/members', reason: 'must be an integer, got 2.5' },
      {
        file: 'c.yaml',
        field: '/spec/workerGroups/0/synchronousMode',
        reason: 'must be true or false, got "yes" (a string)',
      },
    ]);
  });

  it('0 coordinators', async () => {
    const problems = await problemsOf({ 'c.yaml': MINIMAL.replace('members: 1', 'members: 0') });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/coordinator/members', reason: 'must be an integer from 1 to 9, got 0' },
    ]);
  });

  it('a missing required field', async () => {
    const problems = await problemsOf({ 'c.yaml': MINIMAL.replace('    members: 1\n', '    name: c\n') });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/coordinator/members', reason: 'required field "members" is missing' },
    ]);
  });

  it('an etcd size that is not 1, 3 or 5', async () => {
    const problems = await problemsOf({ 'c.yaml': withSpec('etcd:\n  members: 2\n') });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/etcd/members', reason: 'must be one of 1, 3, 5, got 2' },
    ]);
  });

  it('duplicate group names, coordinator included', async () => {
    const problems = await problemsOf({
      'c.yaml': withSpec(
        'workerGroups:\n  - { name: w1, members: 2 }\n  - { name: w1, members: 2 }\n  - { name: coord, members: 2 }\n',
      ),
    });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/workerGroups/1/name', reason: expect.stringContaining('duplicate group name "w1"') },
      { file: 'c.yaml', field: '/spec/workerGroups/2/name', reason: expect.stringContaining('duplicate group name "coord"') },
    ]);
  });

  it('group names taken by the cluster’s other services', async () => {
    const groups = ['haproxy', 'agent', 'net', 'etcd-1', 'etcd-backup']
      .map((n) => `  - { name: ${n}, members: 1 }\n`)
      .join('');
    const problems = await problemsOf({ 'c.yaml': withSpec(`workerGroups:\n${groups}`) });
    expect(problems.map((p) => p.field)).toEqual([0, 1, 2, 3, 4].map((i) => `/spec/workerGroups/${i}/name`));
    expect(problems[0]!.reason).toContain('"test-haproxy" is the name of the HAProxy service');
  });

  it('names that are not DNS-safe', async () => {
    const problems = await problemsOf({
      'c.yaml': withSpec(
        'workerGroups:\n  - { name: W1, members: 1 }\n  - { name: w_2, members: 1 }\n  - { name: w-, members: 1 }\n  - { name: abcdefghijklmnopqrstu, members: 1 }\n',
      ).replace('name: test', 'name: 1cluster'),
    });
    expect(problems.map((p) => [p.file, p.field])).toEqual([
      ['c.yaml', '/metadata/name'],
      ['c.yaml', '/spec/workerGroups/0/name'],
      ['c.yaml', '/spec/workerGroups/1/name'],
      ['c.yaml', '/spec/workerGroups/2/name'],
      ['c.yaml', '/spec/workerGroups/3/name'],
    ]);
    expect(problems[1]!.reason).toBe(
      `must be DNS-safe: 1 to 20 lowercase letters, digits and '-', starting with a letter and not ending with '-', got "W1" (a string)`,
    );
  });

  it('ports out of range and ports that clash', async () => {
    const problems = await problemsOf({
      'c.yaml': withSpec('haproxy:\n  ports:\n    readWrite: 70000\n    readOnly: 0\n'),
    });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/haproxy/ports/readWrite', reason: 'must be an integer from 1 to 65535, got 70000' },
      { file: 'c.yaml', field: '/spec/haproxy/ports/readOnly', reason: 'must be an integer from 1 to 65535, got 0' },
    ]);
    const clash = await problemsOf({
      'c.yaml': withSpec('haproxy:\n  ports:\n    readOnly: 5432\n'),
    });
    expect(clash).toEqual([
      {
        file: 'c.yaml',
        field: '/spec/haproxy/ports/readOnly',
        reason: "port 5432 is also the readWrite port; HAProxy's ports must be distinct",
      },
    ]);
  });

  it('Patroni timing that would demote a healthy primary', async () => {
    const problems = await problemsOf({ 'c.yaml': withSpec('patroni:\n  retryTimeout: 10\n') });
    expect(problems).toEqual([
      { file: 'c.yaml', field: '/spec/patroni/ttl', reason: expect.stringContaining('2 + 2 × 10 = 22, got 20') },
    ]);
  });

  it('YAML that does not parse: line:col and the parser’s reason', async () => {
    const problems = await problemsOf({ 'c.yaml': 'apiVersion: pgmesh.io/v1\nkind: [Cluster\nmetadata: {}\n' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'c.yaml', field: expect.stringMatching(/^\d+:\d+$/) });
    expect(problems[0]!.reason).not.toBe('');
  });

  it('duplicate keys do not parse', async () => {
    const problems = await problemsOf({ 'c.yaml': `${MINIMAL}kind: Cluster\n` });
    expect(problems).toEqual([{ file: 'c.yaml', field: '8:1', reason: 'Map keys must be unique' }]);
  });

  it('a second Cluster names both files', async () => {
    const problems = await problemsOf({
      'a.yaml': MINIMAL,
      'b/second.yaml': MINIMAL.replace('name: test', 'name: other'),
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'b/second.yaml', field: '' });
    expect(problems[0]!.reason).toContain('a.yaml');
    expect(problems[0]!.reason).toContain('"other"');
  });

  it('a second Cluster in the same file names the document', async () => {
    const problems = await problemsOf({ 'a.yaml': `${MINIMAL}---\n${MINIMAL}` });
    expect(problems).toEqual([
      { file: 'a.yaml', field: '', reason: expect.stringMatching(/^document 2: a second Cluster .* in a\.yaml \(document 1\)/) },
    ]);
  });

  it('unknown kind, missing apiVersion, a document that is not a mapping', async () => {
    const problems = await problemsOf({
      'c.yaml': MINIMAL,
      'x.yaml': 'apiVersion: pgmesh.io/v1\nkind: Widget\n---\nkind: Cluster\n---\n- a\n- b\n---\napiVersion: pgmesh.io/v2\nkind: Cluster\n',
    });
    expect(problems).toEqual([
      { file: 'x.yaml', field: '/kind', reason: `document 1: unknown kind "Widget"; known kinds: ${KINDS.map((k) => k.kind).join(', ')}`,
      },
      { file: 'x.yaml', field: '/apiVersion', reason: 'document 2: required field "apiVersion" is missing; use "pgmesh.io/v1"' },
      { file: 'x.yaml', field: '', reason: expect.stringContaining('document 3: a manifest must be a mapping') },
      { file: 'x.yaml', field: '/apiVersion', reason: expect.stringContaining('document 4: unsupported apiVersion "pgmesh.io/v2"') },
    ]);
  });

  it('reports every problem of every file at once', async () => {
    const problems = await problemsOf({
      'a-cluster.yaml': withSpec('etcd:\n  members: 4\npostgres:\n  sharedBuffers: lots\n'),
      'b-broken.yaml': 'key: "unterminated\n',
      'c-other.yml': 'apiVersion: pgmesh.io/v1\nkind: Unknown\n',
      'd/second.yaml': MINIMAL.replace('members: 1', 'members: 10'),
    });
    expect(problems.map((p) => [p.file, p.field])).toEqual([
      ['a-cluster.yaml', '/spec/etcd/members'],
      ['a-cluster.yaml', '/spec/postgres/sharedBuffers'],
      ['b-broken.yaml', expect.stringMatching(/^\d+:\d+$/)],
      ['c-other.yml', '/kind'],
      ['d/second.yaml', '/spec/coordinator/members'],
      ['d/second.yaml', ''],
    ]);
  });

  it('the error message lists every problem', () => {
    const err = catchError(() =>
      parseManifestSetFromFiles([{ path: 'c.yaml', content: MINIMAL.replace('members: 1', 'members: 0') }]),
    );
    expect((err as Error).message).toContain('c.yaml: /spec/coordinator/members: must be an integer from 1 to 9');
  });
});

describe('isManifestPath', () => {
  it('takes YAML files outside dot-folders', () => {
    expect(isManifestPath('cluster.yaml')).toBe(true);
    expect(isManifestPath('tables/docs.yml')).toBe(true);
    expect(isManifestPath('README.md')).toBe(false);
    expect(isManifestPath('.github/workflows/ci.yml')).toBe(false);
    expect(isManifestPath('.cluster.yaml')).toBe(false);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
