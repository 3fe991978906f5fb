import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, PlannedAction } from '../../agent/backends/types.js';
import { waitFor } from '../../agent/core/wait.js';
import { createEtcdClient } from '../../agent/etcd/client.js';
import { pauseKey } from '../../agent/etcd/keys.js';
import { Gate } from '../../agent/gate/gate.js';
import { watchPause, type PauseWatch } from '../../agent/gate/pause.js';
import { Journal } from '../../agent/journal/journal.js';
import type { ManifestSet } from '../../agent/manifests/types.js';
import { createMetrics } from '../../agent/metrics/metrics.js';
import { createCycle, type CycleRunner } from '../../agent/pipeline/cycle.js';
import { bindBackend } from '../../agent/pipeline/types.js';
import { EtcdReportStore } from '../../agent/report/store.js';
import { etcdPauseControl } from '../../agent/server/pause-control.js';
import { readSecretFile, signBody } from '../../agent/server/secrets.js';
import { buildServer, startServer } from '../../agent/server/server.js';
import type { Source } from '../../agent/sources/types.js';
import { startEtcd, type EtcdContainer } from '../helpers/etcd-container.js';

const API_TOKEN = 'apitok-5d8e2c71a4';
const HOOK_SECRET = 'hooksec-91b3f0e6c2';
const DB_PASSWORD = 'dbpw-0a7f63e9d4';
const SECRETS = [API_TOKEN, HOOK_SECRET, DB_PASSWORD];
const CLUSTER = 'srvcl';

interface Scale extends PlannedAction {
  replicas: number;
}

describe('agent API against a real etcd', () => {
  let etcd: EtcdContainer;
  let client: Etcd3;
  let dir: string;
  let base = '';
  let watch: PauseWatch;
  let cycle: CycleRunner;
  let close: () => Promise<void> = async () => undefined;
  const logLines: string[] = [];
  const triggers: string[] = [];
  const live = { replicas: 1 };
  const applied: string[] = [];

  beforeAll(async () => {
    etcd = await startEtcd('pgmtest-agent-etcd-2');
    client = createEtcdClient({ hosts: etcd.url });
    dir = await mkdtemp(join(tmpdir(), 'pgmtest-agent-secrets-'));
    await writeFile(join(dir, 'api-token'), `${API_TOKEN}\n`);
    await writeFile(join(dir, 'webhook-secret'), HOOK_SECRET);
    const log = pino(
      {
        level: 'debug',
        redact: { paths: ['password', '*.password', 'token', '*.token'], censor: '[redacted]' },
      },
      new Writable({
        write(chunk, _e, cb) {
          logLines.push(String(chunk));
          cb();
        },
      }),
    );
    watch = await watchPause(client, CLUSTER, log);
    const metrics = createMetrics();
    const store = new EtcdReportStore(client, CLUSTER);
    // A careless backend: its drift carries a password in a difference.
    const backend: Backend<null, number, { replicas: number }, Scale> = {
      name: 'swarm',
      desired: () => 3,
      observe: async () => ({ ...live }),
      plan: (want, l) =>
        l.replicas === want
          ? { actions: [], refusals: [], drift: [] }
          : {
              actions: [
                {
                  key: `scale:${want}`,
                  backend: 'swarm',
                  summary: `scale to ${want}`,
                  risk: 'safe',
                  replicas: want,
                },
              ],
              refusals: [],
              drift: [
                {
                  backend: 'swarm',
                  resource: 'service/srvcl-w1',
                  state: 'drifted',
                  differences: [
                    { field: 'replicas', desired: want, live: l.replicas },
                    { field: 'env.POSTGRES_PASSWORD', desired: DB_PASSWORD, live: 'x' },
                  ],
                },
              ],
            },
      apply: async (a) => {
        applied.push(a.key);
        live.replicas = a.replicas;
      },
    };
    const source: Source = {
      kind: 'git',
      read: async () => ({ kind: 'git', revision: 'c0ffee', ref: 'main', files: [] }),
      onChange: () => () => undefined,
      close: async () => undefined,
    };
    const set: ManifestSet = { root: '', digest: '', cluster: {} as never, documents: [] };
    const never = new AbortController().signal;
    cycle = createCycle({
      cluster: CLUSTER,
      agentId: 'agent-1',
      source,
      parse: () => set,
      backends: [bindBackend(backend, null)],
      gate: new Gate({ pause: () => watch.current() }),
      pause: () => watch.current(),
      journal: new Journal({ etcd: client, cluster: CLUSTER, holder: 'agent-1' }),
      leader: { isLeader: () => true, signal: () => never },
      store,
      metrics,
      log,
    });
    const app = buildServer({
      log,
      apiToken: await readSecretFile(join(dir, 'api-token')),
      webhookSecret: await readSecretFile(join(dir, 'webhook-secret')),
      reports: store,
      metrics: metrics.registry,
      trigger: (reason) => {
        triggers.push(reason);
        void cycle.run(reason);
      },
      pauseControl: etcdPauseControl(client, CLUSTER),
      isLeader: () => true,
    });
    base = await startServer(app, { host: '127.0.0.1', port: 0 });
    close = () => app.close();
  });

  afterAll(async () => {
    await close();
    await watch?.close();
    client?.close();
    await etcd?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const auth = { authorization: `Bearer ${API_TOKEN}` };
  const get = (path: string, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, { headers });
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('refuses every route but /healthz without the token, and changes nothing', async () => {
    expect((await get('/healthz', {})).status).toBe(200);
    for (const path of ['/api/drift', '/api/drift/history', '/drift', '/metrics']) {
      expect((await get(path, {})).status, path).toBe(401);
      expect((await get(path, { authorization: 'Bearer wrong' })).status, path).toBe(401);
    }
    expect((await post('/api/pause', { reason: 'x' }, {})).status).toBe(401);
    expect((await post('/api/resume', {}, { authorization: `Bearer ${HOOK_SECRET}` })).status).toBe(
      401,
    );
    expect(await client.get(pauseKey(CLUSTER)).string()).toBeNull();
    expect(triggers).toEqual([]);
  });

  it('rejects a webhook with a wrong or missing signature and triggers nothing; a good one triggers', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'c0ffee' });
    const hook = (headers: Record<string, string>) =>
      fetch(`${base}/api/webhook`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...headers },
      });
    expect((await hook({})).status).toBe(401);
    expect((await hook({ 'x-hub-signature-256': signBody('not-the-secret', body) })).status).toBe(
      401,
    );
    expect((await hook({ 'x-hub-signature-256': signBody(HOOK_SECRET, '{}') })).status).toBe(401);
    expect((await hook({ authorization: `Bearer ${API_TOKEN}` })).status).toBe(401);
    expect(triggers).toEqual([]);
    expect(await cycle.lastReport()).toBeNull();

    // Paused first (through the API): the triggered cycle observes and reports but acts not.
    const paused = await post('/api/pause', { reason: 'migration window', by: 'dana' });
    expect(paused.status).toBe(200);
    expect(JSON.parse((await client.get(pauseKey(CLUSTER)).string()) ?? '{}')).toMatchObject({
      by: 'dana',
      reason: 'migration window',
    });
    await waitFor(async () => watch.isPaused(), {
      what: 'pause flag',
      timeoutMs: 5000,
      intervalMs: 20,
    });

    expect((await hook({ 'x-hub-signature-256': signBody(HOOK_SECRET, body) })).status).toBe(202);
    expect(triggers).toEqual(['webhook:push']);
    await waitFor(async () => cycle.lastReport() ?? false, {
      what: 'a report',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(applied).toEqual([]);
    const drift = (await (await get('/api/drift')).json()) as {
      status: string;
      paused: { by: string };
    };
    expect(drift).toMatchObject({
      status: 'blocked',
      paused: { by: 'dana', reason: 'migration window' },
    });
    expect(await (await get('/metrics')).text()).toContain('pgmesh_agent_paused 1');
    const page = await (await get('/drift')).text();
    expect(page).toContain('paused by dana');
  });

  it('resumes through the API and the next cycle acts', async () => {
    const seqBefore = cycle.lastReport()?.seq ?? 0;
    expect((await post('/api/resume', {})).status).toBe(200);
    await waitFor(async () => !watch.isPaused(), {
      what: 'resume',
      timeoutMs: 5000,
      intervalMs: 20,
    });
    await waitFor(async () => (cycle.lastReport()?.seq ?? 0) > seqBefore, {
      what: 'cycle after resume',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await cycle.run('test');
    expect(applied).toEqual(['scale:3']);
    const history = (await (await get('/api/drift/history')).json()) as Array<{ status: string }>;
    expect(history[0]?.status).toBe('in-sync');
    expect(await (await get('/metrics')).text()).toMatch(
      /pgmesh_agent_actions_total\{backend="swarm",result="applied"\} 1/,
    );
  });

  it('leaks no secret into logs, stored reports, the API, the page or /metrics', async () => {
    const stored = await etcd.etcdctl('get', '--prefix', `/pgmesh/${CLUSTER}/`);
    const outputs = {
      logs: logLines.join(''),
      etcd: stored,
      api: await (await get('/api/drift/history')).text(),
      page: await (await get('/drift')).text(),
      metrics: await (await get('/metrics')).text(),
    };
    expect(outputs.logs).toContain('cycle finished');
    expect(outputs.etcd).toContain('env.POSTGRES_PASSWORD');
    for (const [where, text] of Object.entries(outputs)) {
      for (const secret of SECRETS)
        expect(text.includes(secret), `${where} contains a secret`).toBe(false);
    }
  });
});
