import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.js';
import type { PauseInfo } from '../gate/pause.js';
import { createMetrics } from '../metrics/metrics.js';
import { sampleReport } from '../report/sample.js';
import { MemoryReportStore } from '../report/store.js';
import { buildServer } from './server.js';
import { signBody } from './secrets.js';

const TOKEN = 'tok-3f9a-unit';
const HOOK = 'hook-secret-unit';

function setup() {
  const triggers: string[] = [];
  const reports = new MemoryReportStore();
  let pause: PauseInfo | null = null;
  const app = buildServer({
    log: silentLogger(),
    apiToken: TOKEN,
    webhookSecret: HOOK,
    reports,
    metrics: createMetrics().registry,
    trigger: (r) => triggers.push(r),
    pauseControl: {
      pause: async (p) => (pause = { ...p, since: '2025-01-01T00:00:00.000Z' }),
      resume: async () => {
        const was = pause !== null;
        pause = null;
        return was;
      },
    },
  });
  return { app, triggers, reports, pause: () => pause };
}

const auth = { authorization: `Bearer ${TOKEN}` };
let current: ReturnType<typeof setup> | undefined;
afterEach(async () => current?.app.close());

describe('agent HTTP API', () => {
  it('serves /healthz without a token and everything else only with it', async () => {
    const t = (current = setup());
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    for (const url of ['/api/drift', '/api/drift/history', '/drift', '/metrics']) {
      expect((await t.app.inject({ url })).statusCode, url).toBe(401);
      expect(
        (await t.app.inject({ url, headers: { authorization: 'Bearer nope' } })).statusCode,
      ).toBe(401);
      expect((await t.app.inject({ url, headers: { authorization: TOKEN } })).statusCode).toBe(401);
    }
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/pause', payload: { reason: 'x' } }))
        .statusCode,
    ).toBe(401);
    expect(t.pause()).toBeNull();
    expect((await t.app.inject({ url: '/api/drift', headers: auth })).statusCode).toBe(404);
    await t.reports.save(sampleReport());
    const drift = await t.app.inject({ url: '/api/drift', headers: auth });
    expect(drift.json()).toMatchObject({ seq: 1, status: 'blocked' });
    const hist = await t.app.inject({ url: '/api/drift/history?limit=5', headers: auth });
    expect(hist.json()).toHaveLength(1);
    const page = await t.app.inject({ url: '/drift', headers: auth });
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('pgmesh drift report');
    const metrics = await t.app.inject({ url: '/metrics', headers: auth });
    expect(metrics.body).toContain('pgmesh_agent_cycles_total');
  });

  it('checks the webhook signature over the raw body', async () => {
    const t = (current = setup());
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc' });
    const post = (headers: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: '/api/webhook',
        payload: body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    expect((await post({})).statusCode).toBe(401);
    expect((await post({ 'x-hub-signature-256': signBody('wrong', body) })).statusCode).toBe(401);
    expect((await post({ 'x-hub-signature-256': 'sha256=' })).statusCode).toBe(401);
    expect((await post({ 'x-hub-signature-256': signBody(HOOK, `${body} `) })).statusCode).toBe(
      401,
    );
    expect(t.triggers).toEqual([]);
    const ok = await post({
      'x-hub-signature-256': signBody(HOOK, body),
      'x-github-event': 'push',
    });
    expect(ok.statusCode).toBe(202);
    expect(t.triggers).toEqual(['webhook:push']);
  });

  it('pauses and resumes', async () => {
    const t = (current = setup());
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/pause', headers: auth, payload: {} }))
        .statusCode,
    ).toBe(400);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/pause',
      headers: auth,
      payload: { reason: 'maintenance', by: 'carol' },
    });
    expect(res.json()).toMatchObject({ by: 'carol', reason: 'maintenance' });
    const resumed = await t.app.inject({ method: 'POST', url: '/api/resume', headers: auth });
    expect(resumed.json()).toEqual({ resumed: true });
    expect(t.pause()).toBeNull();
    expect(t.triggers).toEqual(['resume']);
  });
});
