/**
 * The CLI's emergency brake does not depend on the manifests: `pause`, `resume`, `drift`
 * and `history` find the cluster from the record `up` keeps (here written by
 * recordCluster into a temp PGMESH_HOME) and talk to a real agent API (the agent's own
 * server, reports and history in a real etcd, the pause key watched as the agent does).
 * The manifests the record names were never committed anywhere: there is no Git tip to
 * read, valid or not. The CLI runs as a user runs it (scripts/pgmesh).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCluster } from '../../agent/cli/locate.js';
import { stateDir } from '../../agent/cli/state.js';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { createEtcdClient, type Etcd3 } from '../../agent/etcd/client.js';
import { watchPause, type PauseWatch } from '../../agent/gate/pause.js';
import { loadManifestSet } from '../../agent/manifests/load.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { createMetrics } from '../../agent/metrics/metrics.js';
import { EtcdRevisionHistory } from '../../agent/report/history.js';
import type { DriftReport } from '../../agent/report/model.js';
import { EtcdReportStore } from '../../agent/report/store.js';
import { etcdPauseControl } from '../../agent/server/pause-control.js';
import { buildServer, startServer } from '../../agent/server/server.js';
import { MANIFESTS } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type EtcdContainer } from '../helpers/etcd-container.js';

const CLUSTER = 'pgmtest-rc-cli';
const TOKEN = 'rc-cli-token-not-for-logs';
let etcdC: EtcdContainer;
let etcd: Etcd3;
let home: string;
let watch: PauseWatch;
let app: ReturnType<typeof buildServer>;
let m: ClusterManifest;

function rejectedReport(revision: string): DriftReport {
  const at = new Date().toISOString();
  return {
    seq: 0,
    cluster: CLUSTER,
    agent: 'a1',
    leader: true,
    startedAt: at,
    finishedAt: at,
    durationMs: 5,
    status: 'rejected',
    source: { kind: 'git', revision, actedOn: 'c0', commit: { subject: 'bad', author: 'x' } },
    paused: null,
    validation: { ok: false, problems: [{ file: 'cluster.yaml', field: '/spec', reason: 'bad' }] },
    backends: [],
    steps: [],
    errors: [],
  };
}

beforeAll(async () => {
  etcdC = await startEtcd('pgmtest-rc-cli-etcd');
  etcd = createEtcdClient({ hosts: [etcdC.url] });
  home = await mkdtemp(join(tmpdir(), 'pgmtest-rc-home-'));
  process.env.PGMESH_HOME = home;
  watch = await watchPause(etcd, CLUSTER, silentLogger());
  const store = new EtcdReportStore(etcd, CLUSTER);
  const history = new EtcdRevisionHistory(etcd, CLUSTER);
  const bad = await store.save(rejectedReport('badc0ffee'));
  await history.record(bad);
  app = buildServer({
    log: silentLogger(),
    apiToken: TOKEN,
    webhookSecret: 'w',
    reports: store,
    metrics: createMetrics().registry,
    trigger: () => undefined,
    pauseControl: etcdPauseControl(etcd, CLUSTER),
    currentPause: () => watch.current(),
    history,
  });
  const url = await startServer(app, { host: '127.0.0.1', port: 0 });
  const base = (await loadManifestSet(MANIFESTS)).cluster;
  m = {
    ...base,
    metadata: { ...base.metadata, name: CLUSTER },
    spec: {
      ...base.spec,
      agent: { ...base.spec.agent, port: Number(new URL(url).port), replicas: 1 },
    },
  };
  await recordCluster(m);
  await writeFile(join(stateDir(CLUSTER), 'agent-token'), TOKEN, { mode: 0o600 });
});

afterAll(async () => {
  await app?.close();
  await watch?.close();
  etcd?.close();
  await etcdC?.remove();
  delete process.env.PGMESH_HOME;
  if (home) await rm(home, { recursive: true, force: true });
});

describe('the CLI finds the cluster without the manifests', () => {
  it('pause takes effect at once, drift and history answer, resume releases it', async () => {
    const env = { PGMESH_HOME: home, PGMESH_CLUSTER: CLUSTER };
    const paused = await runCli(['pause', '--reason', 'rc: bad tip'], { env });
    expect(paused.code, paused.stderr).toBe(0);
    const t0 = Date.now();
    // The agent's gate reads this flag before every action.
    await waitFor(async () => watch.current()?.reason === 'rc: bad tip' || 'not paused yet', {
      what: 'the agent to see the pause',
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    const ms = Date.now() - t0;
    process.stderr.write(`pause: the agent's watch had it ${ms} ms after the CLI exited\n`);
    expect(ms).toBeLessThan(1000);

    const drift = await runCli(['drift'], { env });
    expect(drift.code).toBe(1); // rejected
    expect(drift.stdout).toContain('REJECTED');
    expect((await runCli(['drift', '--exit-code=false'], { env })).code).toBe(0);

    const history = await runCli(['history', '-o', 'json'], { env });
    expect(history.code, history.stderr).toBe(0);
    const revisions = (
      JSON.parse(history.stdout) as { revisions: Array<{ revision: string; outcome: string }> }
    ).revisions;
    expect(revisions).toEqual([
      expect.objectContaining({ revision: 'badc0ffee', outcome: 'rejected' }),
    ]);

    const resumed = await runCli(['resume'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitFor(async () => watch.current() === null || 'still paused', {
      what: 'the agent to see the resume',
      timeoutMs: 5_000,
      intervalMs: 10,
    });
  });

  it('an unknown cluster is a clear error, as JSON under -o json', async () => {
    const r = await runCli(['drift', '-o', 'json', '--cluster', 'pgmtest-rc-nosuch'], {
      env: { PGMESH_HOME: home },
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'PGMESH_CLUSTER_UNKNOWN' } });
  });
});
