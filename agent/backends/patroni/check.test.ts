import { describe, expect, it } from 'vitest';
import { ManifestInvalidError, type ManifestProblem } from '../../core/errors.js';
import { parseManifestSetFromFiles } from '../../manifests/load.js';
import type { PatroniConfigManifest } from '../../manifests/types.js';

const CLUSTER = `apiVersion: pgmesh.io/v1
kind: Cluster
metadata:
  name: test
spec:
  coordinator:
    members: 3
  workerGroups:
    - name: w1
      members: 2
`;

function config(spec: string, name = 'coord-config'): string {
  return `apiVersion: pgmesh.io/v1
kind: PatroniConfig
metadata:
  name: ${name}
spec:
${spec.replace(/^/gm, '  ')}
`;
}

function load(files: Record<string, string>) {
  return parseManifestSetFromFiles(
    Object.entries({ 'cluster.yaml': CLUSTER, ...files }).map(([path, content]) => ({
      path,
      content,
    })),
  );
}

function problemsOf(files: Record<string, string>): ManifestProblem[] {
  try {
    load(files);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestInvalidError);
    return [...(err as ManifestInvalidError).problems];
  }
  throw new Error('the set was accepted');
}

describe('PatroniConfig: valid documents', () => {
  it('loads a full document, values as written, nothing filled in', () => {
    const set = load({
      'patroni.yaml': config(`scope: coord
ttl: 30
loop_wait: 5
retry_timeout: 10
synchronous_mode: true
maximum_lag_on_failover: 1048576
postgresql:
  parameters:
    max_connections: 200
    shared_buffers: 256MB
    work_mem: 8MB
    log_lock_waits: true
    statement_timeout: 30s
    hnsw.ef_search: 100`),
    });
    const doc = set.documents.find((d) => d.manifest.kind === 'PatroniConfig');
    const m = doc?.manifest as PatroniConfigManifest;
    expect(m.spec).toEqual({
      scope: 'coord',
      ttl: 30,
      loop_wait: 5,
      retry_timeout: 10,
      synchronous_mode: true,
      maximum_lag_on_failover: 1048576,
      postgresql: {
        parameters: {
          max_connections: 200,
          shared_buffers: '256MB',
          work_mem: '8MB',
          log_lock_waits: true,
          statement_timeout: '30s',
          'hnsw.ef_search': 100,
        },
      },
    });
  });

  it('takes the timing rule with values left out from the Cluster manifest', () => {
    // Cluster defaults: ttl 20, loop_wait 2, retry_timeout 5 → 2 + 2 × 9 = 20 ≤ 20.
    expect(() => load({ 'p.yaml': config('scope: w1\nretry_timeout: 9') })).not.toThrow();
  });
});

describe('PatroniConfig: bad input is rejected with file and field', () => {
  it('ttl below 20', () => {
    expect(problemsOf({ 'p.yaml': config('scope: coord\nttl: 10') })).toEqual([
      { file: 'p.yaml', field: '/spec/ttl', reason: 'must be an integer from 20 to 3600, got 10' },
    ]);
  });

  it('loop_wait + 2 × retry_timeout > ttl', () => {
    const problems = problemsOf({
      'p.yaml': config('scope: coord\nttl: 20\nloop_wait: 10\nretry_timeout: 10'),
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'p.yaml', field: '/spec/ttl' });
    expect(problems[0]?.reason).toContain('10 + 2 × 10 = 30 > 20');
  });

  it('the rule also holds against the Cluster manifest’s values', () => {
    const problems = problemsOf({ 'p.yaml': config('scope: coord\nretry_timeout: 10') });
    expect(problems[0]).toMatchObject({ field: '/spec/retry_timeout' });
    expect(problems[0]?.reason).toContain('2 + 2 × 10 = 22 > 20');
  });

  it('an unknown parameter', () => {
    const problems = problemsOf({
      'p.yaml': config('scope: coord\npostgresql:\n  parameters:\n    max_conections: 100'),
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      file: 'p.yaml',
      field: '/spec/postgresql/parameters/max_conections',
    });
    expect(problems[0]?.reason).toMatch(
      /^unknown field "max_conections" \(known fields: max_connections,/,
    );
  });

  it('a parameter Patroni owns is unknown to the kind', () => {
    const problems = problemsOf({
      'p.yaml': config('scope: coord\npostgresql:\n  parameters:\n    port: 5433'),
    });
    expect(problems[0]).toMatchObject({ field: '/spec/postgresql/parameters/port' });
  });

  it('a value of the wrong type', () => {
    const problems = problemsOf({
      'p.yaml': config(`scope: coord
postgresql:
  parameters:
    max_connections: lots
    shared_buffers: 1 gigabyte
    log_lock_waits: on
    synchronous_commit: sometimes`),
    });
    const byField = Object.fromEntries(problems.map((p) => [p.field, p.reason]));
    expect(byField).toEqual({
      '/spec/postgresql/parameters/max_connections': 'must be an integer, got "lots" (a string)',
      '/spec/postgresql/parameters/shared_buffers':
        'must be a size with its unit, such as 64MB (kB, MB, GB, TB), got "1 gigabyte" (a string)',
      '/spec/postgresql/parameters/log_lock_waits': 'must be true or false, got "on" (a string)',
      '/spec/postgresql/parameters/synchronous_commit': expect.stringMatching(
        /^must be one of "on", "off", "local"/,
      ),
    });
  });

  it('a wrongly typed Patroni field', () => {
    const problems = problemsOf({ 'p.yaml': config('scope: coord\nsynchronous_mode: maybe') });
    expect(problems).toEqual([
      {
        file: 'p.yaml',
        field: '/spec/synchronous_mode',
        reason: 'must be true or false, got "maybe" (a string)',
      },
    ]);
  });

  it('a scope that is not a group, and two documents for one scope', () => {
    expect(problemsOf({ 'p.yaml': config('scope: w9') })).toEqual([
      {
        file: 'p.yaml',
        field: '/spec/scope',
        reason: 'scope "w9" is not a group of the Cluster manifest (coord, w1)',
      },
    ]);
    const twice = problemsOf({
      'a.yaml': config('scope: w1', 'one'),
      'b.yaml': config('scope: w1', 'two'),
    });
    expect(twice).toEqual([
      {
        file: 'b.yaml',
        field: '/spec/scope',
        reason: 'scope "w1" already has a PatroniConfig ("one"); one per scope',
      },
    ]);
  });
});
