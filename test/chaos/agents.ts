/**
 * The agent, for the one fault that needs it (kill-agent-leader). The chaos cluster runs
 * no agent: its other faults fence in the test process. For this fault the same manifests
 * with two agent replicas go into the cluster's local repository (the one `up` makes and
 * the agents read) and are applied; afterwards the agents are paused and removed again.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureLocalRepository, removeLocalRepository } from '../../agent/cli/repo.js';
import { agentServiceName, groupServiceName } from '../../agent/core/names.js';
import { applyCluster, holdPause, releasePause } from '../../agent/cli/ops.js';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { serviceContainers } from '../../agent/docker/client.js';
import {
  HA_CLUSTER,
  HA_PORTS,
  haClusterYaml,
  haSet,
  scopeState,
  type HaCluster,
} from './ha-cluster.js';

const run = promisify(execFile);
const REPLICAS = 2;
const PAUSE_BY = 'pgmesh chaos';

/** What one kill of the agent leader showed, besides the writer's numbers. */
export interface AgentKill {
  /** The agent replica killed (`agent-<n>`). */
  killed: string;
  /** The replica that led next (the killed one, restarted by Swarm, may win the race). */
  leader: string | null;
  /** From the agent's kill to the next leader answering /healthz as leader. */
  takeoverSeconds: number;
  /** The replica whose log says it deleted the dead primary's leader key. */
  fencedBy: string | null;
  /** `deleted`, `changed-meanwhile`, or the surviving replica's reason for doing nothing. */
  fence: string;
  /** From the primary's kill to the fence, when there was one. */
  fenceAfterPrimaryKillSeconds: number | null;
  /** The coordinators' leader before the kill and once writes went through again. */
  primaryBefore: string | null;
  primaryAfter: string | null;
}

function agentId(index: number): string {
  return `agent-${index}`;
}

/** Whether replica `index` answers and leads; undefined when it does not answer. */
async function leads(index: number): Promise<boolean | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${HA_PORTS.agent + index - 1}/healthz`, {
      signal: AbortSignal.timeout(1000),
    });
    return ((await r.json()) as { leader: boolean }).leader;
  } catch {
    return undefined;
  }
}

/** Waits until every replica answers and exactly one leads; returns its index. */
export async function waitAgentsReady(timeoutMs = 180_000): Promise<number> {
  return waitFor(
    async () => {
      const answers = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => leads(i + 1)));
      if (answers.some((a) => a === undefined))
        return `${answers.filter((a) => a !== undefined).length}/${REPLICAS} agents answer`;
      const leaders = answers.flatMap((a, i) => (a ? [i + 1] : []));
      return leaders.length === 1 ? { index: leaders[0]! } : `${leaders.length} agents lead`;
    },
    { what: 'the agents to answer with one leader', timeoutMs, intervalMs: 500 },
  ).then((r) => r.index);
}

/** Deploys the agents: the manifests with two replicas, in the repository they read too. */
export async function startAgents(h: HaCluster, log?: (line: string) => void): Promise<void> {
  const cluster = h.m.metadata.name;
  const dir = await mkdtemp(join(tmpdir(), 'pgmesh-chaos-manifests-'));
  try {
    await writeFile(
      join(dir, 'cluster.yaml'),
      haClusterYaml(HA_CLUSTER, { agentReplicas: REPLICAS }),
    );
    // An earlier run's repository may hold other manifests; these are the truth now.
    await removeLocalRepository(cluster);
    await ensureLocalRepository(cluster, dir, h.m.spec.agent.repository.branch);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await releasePause(h.docker, cluster, PAUSE_BY);
  await applyCluster(haSet({ agentReplicas: REPLICAS }), h.images, {
    docker: h.docker,
    log: silentLogger(),
    onProgress: log,
    convergeTimeoutMs: 300_000,
  });
  const leader = await waitAgentsReady();
  log?.(`agents up (${h.images.agent}), ${agentId(leader)} leads`);
}

/**
 * Takes the agents away again. Paused first: a running leader sees the other replica's
 * removal as drift and would create it again.
 */
export async function stopAgents(h: HaCluster, log?: (line: string) => void): Promise<void> {
  const cluster = h.m.metadata.name;
  await holdPause(h.docker, cluster, PAUSE_BY, 'the chaos suite removes the agents');
  await applyCluster(haSet(), h.images, {
    docker: h.docker,
    log: silentLogger(),
    onProgress: log,
    convergeTimeoutMs: 300_000,
  });
  await releasePause(h.docker, cluster, PAUSE_BY);
  await removeLocalRepository(cluster);
}

interface LogLine {
  time: number;
  msg: string;
  agent?: string;
  service?: string;
  member?: string;
  deleted?: boolean;
  reason?: string;
}

/** The JSON log lines of every container (dead ones too) of the agent services since `since`. */
async function agentLogs(h: HaCluster, since: number): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  for (let i = 1; i <= REPLICAS; i++) {
    const svc = agentServiceName(h.m.metadata.name, i);
    for (const c of await serviceContainers(h.docker, svc, { all: true })) {
      // pino writes to stderr; the CLI keeps both streams apart.
      const { stdout, stderr } = await run(
        'docker',
        ['logs', '--since', new Date(since).toISOString(), c.id],
        { maxBuffer: 64 * 1024 * 1024 },
      ).catch(() => ({ stdout: '', stderr: '' }));
      for (const text of `${stdout}\n${stderr}`.split('\n')) {
        if (!text.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(text) as LogLine);
        } catch {
          // Not a log record.
        }
      }
    }
  }
  return lines.filter((l) => l.time >= since).sort((a, b) => a.time - b.time);
}

/**
 * SIGKILLs the leading agent replica's container and starts timing the takeover. The
 * returned `result` is read after the measurement, with the primary's kill time.
 */
export async function killAgentLeader(
  h: HaCluster,
): Promise<{ killed: string; result(primaryKilledAt: number): Promise<AgentKill> }> {
  const index = await waitAgentsReady();
  const primaryBefore = (await scopeState(h, h.m.spec.coordinator.name)).leader ?? null;
  const svc = agentServiceName(h.m.metadata.name, index);
  const container = (await serviceContainers(h.docker, svc)).find((c) => c.state === 'running');
  if (!container) throw new Error(`no running container of ${svc}`);
  const killedAt = Date.now();
  await h.docker.getContainer(container.id).kill({ signal: 'SIGKILL' });
  // Polled from the kill on, so the takeover is timed while the trial runs.
  const takeover = waitFor(
    async () => {
      for (let i = 1; i <= REPLICAS; i++) {
        if (await leads(i)) return { index: i, at: Date.now() };
      }
      return 'no agent leads';
    },
    { what: 'an agent to lead again', timeoutMs: 120_000, intervalMs: 100 },
  ).catch(() => undefined);
  return {
    killed: agentId(index),
    async result(primaryKilledAt) {
      const next = await takeover;
      const primaryAfter = (await scopeState(h, h.m.spec.coordinator.name)).leader ?? null;
      const logs = await agentLogs(h, killedAt - 1000);
      // Only the coordinators' deaths: the agents also hear about other clusters' containers.
      const coord = groupServiceName(h.m.metadata.name, h.m.spec.coordinator.name);
      const fences = logs.filter((l) => l.msg.startsWith('fenced failover') && l.service === coord);
      const acted = fences.find((l) => l.msg !== 'fenced failover: no action');
      const survivor = fences.find((l) => l.agent !== agentId(index));
      return {
        killed: agentId(index),
        leader: next ? agentId(next.index) : null,
        takeoverSeconds: next ? (next.at - killedAt) / 1000 : Infinity,
        fencedBy: acted?.deleted ? (acted.agent ?? '?') : null,
        fence: acted
          ? acted.deleted
            ? 'deleted'
            : 'changed-meanwhile'
          : survivor
            ? `no action (${survivor.agent}): ${survivor.reason ?? survivor.msg}`
            : 'none logged',
        fenceAfterPrimaryKillSeconds: acted?.deleted ? (acted.time - primaryKilledAt) / 1000 : null,
        primaryBefore,
        primaryAfter,
      };
    },
  };
}
