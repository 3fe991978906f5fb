import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { agentServiceName, groupServiceName, secretName } from '../../agent/core/names.js';
import { serviceContainers, execInService } from '../../agent/docker/client.js';
import { waitFor } from '../../agent/core/wait.js';
import { stateDir, readPassword } from '../../agent/cli/state.js';
import type { ClusterManifest } from '../../agent/manifests/types.js';
import { callAgent } from '../../agent/cli/agent-api.js';
import { runCli } from '../helpers/cli.js';
import { defaultCluster, testDocker } from '../helpers/cluster.js';
import {
  ManifestsClone,
  etcdctl,
  latestReport,
  reportHistory,
  waitInSync,
} from '../helpers/gitops.js';

let m: ClusterManifest;
let clone: ManifestsClone;
const api = (port = 8480): string => `http://127.0.0.1:${port}`;

async function secret(name: 'agent-token' | 'webhook-secret'): Promise<string> {
  return (await readFile(join(stateDir('pgmesh'), name), 'utf8')).trim();
}

async function replicas(group: string): Promise<number> {
  const s = await testDocker().getService(groupServiceName('pgmesh', group)).inspect();
  return s.Spec?.Mode?.Replicated?.Replicas ?? -1;
}

async function version(service: string): Promise<number> {
  return (await testDocker().getService(service).inspect()).Version?.Index ?? -1;
}

async function agentLogs(): Promise<string> {
  let all = '';
  for (let i = 1; i <= 2; i++) {
    for (const c of await serviceContainers(testDocker(), agentServiceName('pgmesh', i), {
      all: true,
    })) {
      const buf = await testDocker()
        .getContainer(c.id)
        .logs({ stdout: true, stderr: true, tail: 2000 });
      all += buf.toString('utf8');
    }
  }
  return all;
}

/**
 * Records Docker's service events from now on (Docker keeps too short a history to ask
 * afterwards); `scales()` gives `replicas.new` of every update, by service.
 */
async function recordScaleEvents(): Promise<{
  scales: () => Record<string, string[]>;
  stop: () => void;
}> {
  const stream = (await testDocker().getEvents({
    filters: { type: ['service'] },
  })) as NodeJS.ReadableStream & {
    destroy(): void;
  };
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    scales() {
      const out: Record<string, string[]> = {};
      for (const line of text.split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as {
          Action: string;
          Actor: { Attributes: Record<string, string> };
        };
        const replicas = e.Actor.Attributes['replicas.new'];
        if (e.Action !== 'update' || replicas === undefined) continue;
        (out[e.Actor.Attributes.name ?? '?'] ??= []).push(replicas);
      }
      return out;
    },
    stop: () => stream.destroy(),
  };
}

function members(group: 0 | 1, n: number) {
  return (doc: { setIn(path: unknown[], v: unknown): void }) =>
    doc.setIn(['spec', 'workerGroups', group, 'members'], n);
}

beforeAll(async () => {
  m = await defaultCluster();
  clone = await ManifestsClone.open('pgmesh');
  // Whatever an earlier file left: not paused, converged on the repository's tip.
  await runCli(['resume']);
});

describe('GitOps: a pushed commit is converged', () => {
  it('a commit changing a member count converges within the poll interval plus apply time', async () => {
    const t0 = Date.now();
    const commit = await clone.push('w1: 3 members', members(0, 3));
    const report = await waitInSync(m, commit);
    const seconds = (Date.now() - t0) / 1000;
    process.stderr.write(
      `push → in sync: ${seconds.toFixed(1)} s (poll ${m.spec.agent.pollIntervalSeconds} s)\n`,
    );
    expect(await replicas('w1')).toBe(3);
    expect(report.source.actedOn).toBe(commit);
    const item = report.backends
      .flatMap((b) => b.items)
      .find((i) => i.resource === 'service/pgmesh-w1');
    expect(item?.state).toBe('in-sync');
    expect(seconds).toBeLessThan(m.spec.agent.pollIntervalSeconds + 180);
  });

  it('a signed webhook starts the cycle at once; a wrong or missing signature is refused', async () => {
    const commit = await clone.push('w1: back to 2 members', members(0, 2));
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit });
    const bad = await fetch(`${api()}/api/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' },
      body,
    });
    expect(bad.status).toBe(401);
    const missing = await fetch(`${api()}/api/webhook`, { method: 'POST', body });
    expect(missing.status).toBe(401);

    const sig = createHmac('sha256', await secret('webhook-secret'))
      .update(body)
      .digest('hex');
    const t0 = Date.now();
    const ok = await fetch(`${api()}/api/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${sig}` },
      body,
    });
    expect(ok.status).toBe(202);
    await waitFor(async () => (await replicas('w1')) === 2, {
      what: 'w1 scaled back by the webhook-triggered cycle',
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const started = (Date.now() - t0) / 1000;
    process.stderr.write(`webhook → apply started: ${started.toFixed(1)} s\n`);
    expect(started).toBeLessThan(5);
    await waitInSync(m, commit);
    const logs = await agentLogs();
    expect(logs).toContain('webhook signature rejected');
  });

  it('a hand-made `docker service scale` is reported as drift and reverted', async () => {
    const before = (await latestReport(m))?.seq ?? 0;
    const svc = testDocker().getService(groupServiceName('pgmesh', 'w2'));
    const spec = await svc.inspect();
    await svc.update({
      ...spec.Spec,
      version: spec.Version?.Index,
      Mode: { Replicated: { Replicas: 3 } },
    });
    await waitFor(async () => (await replicas('w2')) === 2, {
      what: 'the agent to revert the hand-made scale',
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    // The cycle that reverted it reports what it found once it has finished.
    const drift = await waitFor(
      async () => {
        const reports = (await reportHistory(m)).filter((r) => r.seq > before);
        return (
          reports
            .flatMap((r) => r.backends.flatMap((b) => [...b.items, ...(b.corrected ?? [])]))
            .find((i) => i.resource === 'service/pgmesh-w2' && i.state !== 'in-sync') ??
          'no report of the drift yet'
        );
      },
      { what: 'a report of the hand-made scale', timeoutMs: 120_000 },
    );
    expect(drift.differences).toContainEqual({ field: 'replicas', desired: 2, live: 3 });
  });
});

describe('GitOps: bad input and the emergency pause', () => {
  it('an invalid commit is rejected with file, field and reason; the cluster is untouched; the next valid commit applies', async () => {
    const versions = await Promise.all(
      ['w1', 'w2', 'coord'].map((g) => version(groupServiceName('pgmesh', g))),
    );
    const bad = await clone.push('w1: members as a word', members(0, 'three' as unknown as number));
    const report = await waitFor(
      async () => {
        const r = await latestReport(m);
        return r?.source.revision === bad && r.status === 'rejected' ? r : 'not rejected yet';
      },
      { what: 'the invalid commit to be rejected', timeoutMs: 120_000 },
    );
    expect(report.validation.problems).toContainEqual(
      expect.objectContaining({ file: 'cluster.yaml', field: '/spec/workerGroups/0/members' }),
    );
    expect(
      await Promise.all(['w1', 'w2', 'coord'].map((g) => version(groupServiceName('pgmesh', g)))),
    ).toEqual(versions);
    expect(await agentLogs()).toContain('/spec/workerGroups/0/members');
    const good = await clone.push('w1: 2 members again', members(0, 2));
    await waitInSync(m, good);
  });

  it('with an invalid commit at the tip, pause takes effect within 1 s; status, drift, history and resume work; the next valid commit applies', async () => {
    const bad = await clone.push(
      'w1: members as a word again',
      members(0, 'x' as unknown as number),
    );
    await waitFor(
      async () => {
        const r = await latestReport(m);
        return r?.source.revision === bad && r.status === 'rejected' ? r : 'not rejected yet';
      },
      { what: 'the invalid commit to be rejected', timeoutMs: 120_000 },
    );
    const t0 = Date.now();
    const paused = await runCli(['pause', '--reason', 'e2e: bad tip']);
    const cliMs = Date.now() - t0;
    expect(paused.code, paused.stderr).toBe(0);
    const t1 = Date.now();
    const seen = await waitFor(
      async () => {
        const r = (await callAgent(testDocker(), m, 'GET', '/api/pause')) as {
          paused: { reason: string } | null;
        };
        return r.paused ?? 'the agent does not report the pause yet';
      },
      { what: 'the agent to report the pause', timeoutMs: 5_000, intervalMs: 20 },
    );
    const agentMs = Date.now() - t1;
    process.stderr.write(
      `pause with an invalid tip: the CLI took ${cliMs} ms; the agent reported it paused ${agentMs} ms after the CLI exited\n`,
    );
    expect(seen.reason).toBe('e2e: bad tip');
    expect(agentMs).toBeLessThan(1000);

    const status = await runCli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/PAUSED by .*e2e: bad tip/);
    const drift = await runCli(['drift', '--exit-code=false']);
    expect(drift.code, drift.stderr).toBe(0);
    expect(drift.stdout).toMatch(/paused|rejected/i);
    const history = await runCli(['history', '-o', 'json']);
    expect(history.code, history.stderr).toBe(0);
    const revisions = JSON.parse(history.stdout) as {
      revisions: Array<{ revision: string; outcome: string }>;
    };
    expect(revisions.revisions.find((r) => r.revision === bad)?.outcome).toBe('rejected');

    const good = await clone.push('w1: 2 members after the bad tip', members(0, 2));
    const resumed = await runCli(['resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitInSync(m, good);
  });

  it('pause by CLI holds a commit back and says so; resume applies it', async () => {
    const paused = await runCli(['pause', '--reason', 'e2e: hold everything']);
    expect(paused.code, paused.stderr).toBe(0);
    const commit = await clone.push('w2: 3 members while paused', members(1, 3));
    const report = await waitFor(
      async () => {
        const r = await latestReport(m);
        return r?.source.revision === commit && r.paused
          ? r
          : 'no paused report for the commit yet';
      },
      { what: 'a report of the paused cycle', timeoutMs: 120_000 },
    );
    expect(report.paused?.reason).toBe('e2e: hold everything');
    expect(report.paused?.by).toMatch(/@cli$/);
    expect(report.status).toBe('blocked');
    expect(await replicas('w2')).toBe(2);
    const drift = await runCli(['drift']);
    expect(drift.stdout).toMatch(/paused/i);

    expect((await runCli(['resume'])).code).toBe(0);
    await waitInSync(m, commit);
    expect(await replicas('w2')).toBe(3);
  });

  it('a pause set by hand with etcdctl stops a running multi-step apply at its next safe point', async () => {
    const w2 = await version(groupServiceName('pgmesh', 'w2'));
    // Two actions: w1 then w2 (the plan's order); the pause lands while the first runs.
    const commit = await clone.push('w1: 3, w2: 2', (doc) => {
      members(0, 3)(doc);
      members(1, 2)(doc);
    });
    await waitFor(async () => (await replicas('w1')) === 3, {
      what: 'the first action to start',
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const t0 = Date.now();
    await etcdctl('pgmesh', ['put', '/pgmesh/pgmesh/pause', 'e2e: stop by hand']);
    const report = await waitFor(
      async () => {
        const r = await latestReport(m);
        return r?.paused && r.source.revision === commit ? r : 'no paused report yet';
      },
      { what: 'the apply to stop', timeoutMs: 180_000, intervalMs: 200 },
    );
    const seconds = (Date.now() - t0) / 1000;
    process.stderr.write(
      `pause during a running apply: the cycle stopped ${seconds.toFixed(1)} s after the key was set (the running action finished first)\n`,
    );
    expect(report.paused?.by).toBe('etcdctl');
    expect(report.paused?.reason).toBe('e2e: stop by hand');
    // The second action never started.
    expect(await version(groupServiceName('pgmesh', 'w2'))).toBe(w2);
    expect(await replicas('w2')).toBe(3);
    const records = report.backends.flatMap((b) => b.actions);
    expect(records.find((a) => a.summary.includes('pgmesh-w2'))?.result).toMatch(/blocked|not-run/);

    await etcdctl('pgmesh', ['del', '/pgmesh/pgmesh/pause']);
    await waitInSync(m, commit);
    expect(await replicas('w2')).toBe(2);
    const back = await clone.push('w1: 2', members(0, 2));
    await waitInSync(m, back);
  });
});

describe('GitOps: two agent replicas', () => {
  it('the other replica takes over within the lease TTL after the leader is killed, and repeats no action', async () => {
    const two = await clone.push('agent: 2 replicas', (doc) =>
      doc.setIn(['spec', 'agent', 'replicas'], 2),
    );
    await waitInSync(m, two);
    const health = async (port: number): Promise<boolean | null> => {
      try {
        const r = await fetch(`${api(port)}/healthz`, { signal: AbortSignal.timeout(1000) });
        return ((await r.json()) as { leader: boolean }).leader;
      } catch {
        return null;
      }
    };
    await waitFor(async () => (await health(8481)) !== null, {
      what: 'agent-2 to serve',
      timeoutMs: 120_000,
    });
    const leaderIndex = (await health(8480)) ? 1 : 2;
    const otherPort = leaderIndex === 1 ? 8481 : 8480;
    const leaderPort = leaderIndex === 1 ? 8480 : 8481;

    // A two-step change; the leader is killed while the first step runs.
    const events = await recordScaleEvents();
    const commit = await clone.push('w1: 3, w2: 3', (doc) => {
      members(0, 3)(doc);
      members(1, 3)(doc);
    });
    await waitFor(async () => (await replicas('w1')) === 3, {
      what: 'the first step',
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const [leader] = await serviceContainers(testDocker(), agentServiceName('pgmesh', leaderIndex));
    if (!leader) throw new Error('no leader container');
    const t0 = Date.now();
    await testDocker().getContainer(leader.id).kill();
    // A replica leads again: usually the other one; the killed one's replacement task may
    // also win the next election. Either way the dead leader's lease had to expire first.
    await waitFor(
      async () => (await health(otherPort)) === true || (await health(leaderPort)) === true,
      { what: 'a replica to lead again', timeoutMs: 30_000, intervalMs: 100 },
    );
    const takeover = (Date.now() - t0) / 1000;
    process.stderr.write(
      `agent leader killed → a replica leads again after ${takeover.toFixed(1)} s (TTL ${m.spec.agent.leaderTtlSeconds} s)\n`,
    );
    expect(takeover).toBeLessThanOrEqual(m.spec.agent.leaderTtlSeconds + 2);

    await waitInSync(m, commit);
    // Each service was scaled exactly once (Docker's own event log): the new leader did
    // not repeat the step the old one had done.
    events.stop();
    expect(events.scales()).toEqual({ 'pgmesh-w1': ['3'], 'pgmesh-w2': ['3'] });

    const back = await clone.push('back to the defaults', (doc) => {
      members(0, 2)(doc);
      members(1, 2)(doc);
      doc.setIn(['spec', 'agent', 'replicas'], 1);
    });
    await waitInSync(m, back);
    expect(await replicas('w1')).toBe(2);
    const agents = await testDocker().listServices({ filters: { label: ['pgmesh.role=agent'] } });
    expect(agents.map((s) => s.Spec?.Name)).toEqual(['pgmesh-agent-1']);
  });
});

describe('security', () => {
  it('the API refuses requests without the token; no secret appears in logs, reports or metrics', async () => {
    expect((await fetch(`${api()}/api/drift`)).status).toBe(401);
    expect((await fetch(`${api()}/metrics`)).status).toBe(401);
    expect(
      (
        await fetch(`${api()}/api/pause`, {
          method: 'POST',
          headers: { authorization: 'Bearer wrong' },
        })
      ).status,
    ).toBe(401);

    const token = await secret('agent-token');
    const metrics = await (
      await fetch(`${api()}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    expect(metrics).toContain('pgmesh_');
    const replication = (
      await execInService(testDocker(), groupServiceName('pgmesh', 'coord'), [
        'cat',
        '/run/secrets/replication-password',
      ])
    ).stdout.trim();
    const secrets = [
      await readPassword(testDocker(), m),
      replication,
      token,
      await secret('webhook-secret'),
    ];
    const haystack = [await agentLogs(), JSON.stringify(await reportHistory(m)), metrics].join(
      '\n',
    );
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(16);
      expect(
        haystack.includes(s),
        `a secret (${secretName('pgmesh', 'agent-token').length} chars name) leaked`,
      ).toBe(false);
    }
  });
});
