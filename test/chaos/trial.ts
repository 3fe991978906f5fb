/**
 * One fault-injection trial: start a writer, inject the fault, watch for two writable
 * primaries in the group, measure the write gap, undo the fault, wait until the cluster is
 * whole again, and count acknowledged rows that are missing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { etcdServiceName, groupServiceName } from '../../agent/core/names.js';
import { silentLogger } from '../../agent/core/log.js';
import { waitFor } from '../../agent/core/wait.js';
import { serviceContainers } from '../../agent/docker/client.js';
import { FencedFailover, type FenceOutcome } from '../../agent/failover/index.js';
import { killAgentLeader, type AgentKill } from './agents.js';
import {
  docker,
  healthyOrHealed,
  memberContainer,
  networkName,
  psqlIn,
  scopeState,
  type HaCluster,
} from './ha-cluster.js';
import {
  forkOf,
  lostWalBytes,
  measure,
  parseWriterLog,
  ROWS_TABLE,
  startWriter,
  type TrialNumbers,
} from './writer.js';
import { sampleMaxima } from '../helpers/sampler.js';
import { convergePatroni, dcsMaxConnections, patroniConfigYaml, sampleDown } from './rolling.js';

const run = promisify(execFile);

export type Fault =
  | 'kill-coord-primary'
  | 'kill-worker-primary'
  | 'kill-postgres'
  | 'stop-etcd-member'
  | 'cut-worker-primary'
  | 'kill-agent-leader'
  | 'rolling-restart';

export const FAULTS: readonly Fault[] = [
  'kill-coord-primary',
  'kill-worker-primary',
  'kill-postgres',
  'stop-etcd-member',
  'cut-worker-primary',
  'kill-agent-leader',
  'rolling-restart',
];

export interface TrialResult extends TrialNumbers {
  fault: Fault;
  fenced: boolean;
  scope: string;
  /** Acknowledged rows not found afterwards. */
  lost: number;
  /** WAL from the new timeline's switch point to the last lost row (0 when none was lost). */
  lostWalBytes: number | null;
  /** Replicas whose Postgres did not start again and were cloned anew from the leader. */
  reinits?: number;
  /** Most members of the group seen not in recovery at one sample. */
  maxPrimaries: number;
  fence: FenceOutcome | undefined;
  /** kill-agent-leader: the takeover and which replica fenced (the agents fence, not the test). */
  agent?: AgentKill;
  /** rolling-restart: the most members of the group not accepting connections at one sample. */
  maxDown?: number;
  /** rolling-restart: the patroni backend's actions, in order, and how long they took. */
  restart?: { actions: string[]; seconds: number };
}

function scopeOf(h: HaCluster, fault: Fault): string {
  return fault === 'kill-worker-primary' || fault === 'cut-worker-primary'
    ? (h.m.spec.workerGroups[0]?.name ?? 'w1')
    : h.m.spec.coordinator.name;
}

/** Samples every member container of the group (local socket, so a cut-off one counts too). */
function watchPrimaries(h: HaCluster, scope: string): { stop(): Promise<number> } {
  const sampler = sampleMaxima(['primaries'], 500, async () => {
    const containers = await serviceContainers(
      h.docker,
      groupServiceName(h.m.metadata.name, scope),
    ).catch(() => []);
    const answers = await Promise.all(
      containers
        .filter((c) => c.state === 'running')
        .map((c) => psqlIn(h, c.id, 'SELECT pg_is_in_recovery()', 2).catch(() => '')),
    );
    return { primaries: answers.filter((a) => a === 'f').length };
  });
  return { stop: async () => (await sampler.stop()).primaries };
}

async function etcdLeaderService(h: HaCluster): Promise<string> {
  const cluster = h.m.metadata.name;
  for (let i = 1; i <= h.m.spec.etcd.members; i++) {
    const svc = etcdServiceName(cluster, i);
    const c = (await serviceContainers(h.docker, svc)).find((x) => x.state === 'running');
    if (!c) continue;
    const out = await docker([
      'exec',
      c.id,
      'etcdctl',
      '--endpoints=http://127.0.0.1:2379',
      'endpoint',
      'status',
      '-w',
      'json',
    ]).catch(() => '');
    const s = (
      JSON.parse(out || '[]') as Array<{
        Status?: { header?: { member_id?: number }; leader?: number };
      }>
    )[0];
    if (s?.Status?.leader !== undefined && s.Status.leader === s.Status.header?.member_id)
      return svc;
  }
  return etcdServiceName(cluster, 1);
}

/** What the last rolling-restart injection did (read by runTrial). */
let restarted: { actions: string[]; seconds: number } | undefined;
/** Read through a call, so TypeScript does not narrow it to the `undefined` runTrial set. */
function lastRestart(): typeof restarted {
  return restarted;
}

/** Injects the fault; returns how to undo it (after the measurement). */
async function inject(h: HaCluster, fault: Fault, scope: string): Promise<() => Promise<void>> {
  const leader = (await scopeState(h, scope)).leader;
  if (!leader) throw new Error(`${scope} has no leader before the fault`);
  const container = await memberContainer(h, scope, leader);
  switch (fault) {
    case 'kill-coord-primary':
    case 'kill-worker-primary':
    case 'kill-agent-leader':
      await h.docker.getContainer(container).kill({ signal: 'SIGKILL' });
      return async () => undefined;
    case 'kill-postgres':
      await docker([
        'exec',
        container,
        'sh',
        '-c',
        'kill -9 $(head -1 /var/lib/pgmesh/pg/postmaster.pid)',
      ]);
      return async () => undefined;
    case 'rolling-restart': {
      // A change that needs a restart, applied as the agent applies a PatroniConfig pushed
      // to Git: replicas restarted one at a time, a switchover, then the old primary.
      const t0 = Date.now();
      const next = (await dcsMaxConnections(h, scope)) + 10;
      const actions = await convergePatroni(
        h,
        patroniConfigYaml(scope, `postgresql:\n  parameters:\n    max_connections: ${next}`),
      );
      restarted = { actions, seconds: (Date.now() - t0) / 1000 };
      return async () => undefined;
    }
    case 'stop-etcd-member': {
      const svc = await etcdLeaderService(h);
      await docker(['service', 'scale', '-d', `${svc}=0`]);
      return async () => {
        await docker(['service', 'scale', '-d', `${svc}=1`]);
      };
    }
    case 'cut-worker-primary':
      try {
        await docker(['network', 'disconnect', '-f', networkName(h.m.metadata.name), container]);
      } catch {
        // Where the engine refuses to detach a Swarm task, drop every packet that is not
        // on the container's loopback, inside its network namespace: the same cut.
        const pid = await docker(['inspect', '-f', '{{.State.Pid}}', container]);
        for (const [chain, side] of [
          ['INPUT', '-i'],
          ['OUTPUT', '-o'],
        ]) {
          await run('nsenter', [
            '-t',
            pid,
            '-n',
            'iptables',
            '-I',
            chain!,
            '!',
            side!,
            'lo',
            '-j',
            'DROP',
          ]);
        }
      }
      // Swarm replaces the removed task; the member comes back on its volume (pg_rewind).
      return async () => {
        await h.docker
          .getContainer(container)
          .remove({ force: true })
          .catch(() => undefined);
      };
  }
}

/** The timeline a member writes on now. */
async function timelineOf(h: HaCluster, scope: string, member: string): Promise<number> {
  const out = await psqlIn(
    h,
    await memberContainer(h, scope, member),
    `SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`,
    10,
  );
  return Number(out);
}

/**
 * Where the failover out of timeline `parent` forked, from the group leader's timeline
 * history: the end of the WAL the promoted replica had. The history's last line is not
 * enough: a later leader change (the old primary winning back, a switchover while the
 * group heals) adds lines after it, and rows lost in this failover lie below those.
 */
async function switchPoint(
  h: HaCluster,
  scope: string,
  parent: number,
): Promise<string | undefined> {
  const leader = (await scopeState(h, scope)).leader;
  if (!leader) return undefined;
  const out = await psqlIn(
    h,
    await memberContainer(h, scope, leader),
    `SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex(timeline_id)), 8, '0') || '.history')
       FROM pg_control_checkpoint() WHERE timeline_id > 1`,
    10,
  ).catch(() => '');
  return forkOf(out, parent);
}

export interface TrialOptions {
  fenced: boolean;
  trial: number;
  /** How long to wait for the first write after the fault (default 90 s). */
  recoverTimeoutMs?: number;
  log?: (line: string) => void;
}

export async function runTrial(h: HaCluster, fault: Fault, o: TrialOptions): Promise<TrialResult> {
  const scope = scopeOf(h, fault);
  for (const s of [h.m.spec.coordinator.name, scope]) await healthyOrHealed(h, s, o);
  let fence: FenceOutcome | undefined;
  // With the agents deployed, fencing is theirs alone (agents.ts).
  const fencer =
    o.fenced && fault !== 'kill-agent-leader'
      ? new FencedFailover({
          docker: h.docker,
          cluster: h.m.metadata.name,
          store: h.store,
          log: silentLogger(),
          onOutcome: (_e, outcome) => {
            if (outcome.decision.act || !fence) fence = outcome;
          },
        })
      : undefined;
  await fencer?.start();
  const startId = (Date.now() % 1_000_000_000) * 1000;
  const writer = await startWriter(h, scope, startId);
  try {
    await waitFor(async () => ((await writer.acked()) >= 10 ? true : 'warming up'), {
      what: 'the writer to commit its first rows',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    const oldLeader = (await scopeState(h, scope)).leader!;
    const oldTimeline = await timelineOf(h, scope, oldLeader);
    const watcher = watchPrimaries(h, scope);
    const downs = fault === 'rolling-restart' ? sampleDown(h, scope) : undefined;
    restarted = undefined;
    // The agent leader first, the coordinator primary a second later: its death falls into
    // the takeover, while no replica leads. The measurement counts from the primary's kill.
    const agentKill = fault === 'kill-agent-leader' ? await killAgentLeader(h) : undefined;
    if (agentKill) await new Promise((r) => setTimeout(r, 1000));
    const faultAt = Date.now();
    const undo = await inject(h, fault, scope);
    o.log?.(`${fault} #${o.trial} (fenced ${o.fenced ? 'on' : 'off'}) injected`);
    // Done when writes go through again: a row acknowledged at least 3 s after the fault
    // and no failure after it (an attempt may hang for up to 5 s before it fails).
    const deadline = Date.now() + (o.recoverTimeoutMs ?? 90_000);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const current = parseWriterLog(await docker(['logs', writer.name]));
      const lastAck = current.acks.at(-1);
      const lastErr = current.errors.at(-1);
      if (lastAck && lastAck.at > faultAt + 3000 && (!lastErr || lastAck.at > lastErr.at)) break;
    }
    await new Promise((r) => setTimeout(r, 2000));
    const log = await writer.stop();
    const maxPrimaries = await watcher.stop();
    const maxDown = await downs?.stop();
    // A rolling restart fails writes only at its switchover, well after it starts: its
    // numbers count from the last write acknowledged before the first failed one (an
    // attempt hangs up to 2 s before it fails, so the failure itself is late).
    const firstErr = log.errors.find((e) => e.at >= faultAt);
    const from =
      fault === 'rolling-restart' && firstErr
        ? ([...log.acks].reverse().find((a) => a.at < firstErr.at)?.at ?? faultAt)
        : faultAt;
    const numbers: TrialNumbers = measure(log, from);
    const agent = await agentKill?.result(faultAt);
    // The fault's own undo (removing a cut-off container) is not part of the measurement.
    await fencer?.stop();
    await undo();
    let reinits = 0;
    for (const s of [h.m.spec.coordinator.name, scope]) reinits += await healthyOrHealed(h, s, o);
    const leader = (await scopeState(h, scope)).leader!;
    const ids = await psqlIn(
      h,
      await memberContainer(h, scope, leader),
      `SELECT id FROM ${ROWS_TABLE} WHERE id >= ${startId} AND id < ${startId + 100_000}`,
      30,
    );
    const present = new Set(ids.split('\n').filter(Boolean).map(Number));
    const lostRows = log.acks.filter((a) => !present.has(a.id));
    const lost = lostRows.length;
    const fork = lost > 0 ? await switchPoint(h, scope, oldTimeline) : undefined;
    const walBytes = lost > 0 ? lostWalBytes(lostRows, fork) : 0;
    const restart = lastRestart();
    const result: TrialResult = {
      fault,
      fenced: o.fenced,
      scope,
      lost,
      lostWalBytes: walBytes,
      reinits,
      maxPrimaries,
      fence,
      ...(agent ? { agent } : {}),
      ...(maxDown !== undefined ? { maxDown } : {}),
      ...(restart ? { restart } : {}),
      ...numbers,
    };
    o.log?.(
      `${fault} #${o.trial} fenced=${o.fenced}: next write after ${result.recoverySeconds.toFixed(1)} s, max gap ${result.maxGapSeconds.toFixed(1)} s, ${result.acked} acked, ${lost} lost (${walBytes ?? '?'} WAL bytes${lost > 0 ? `; timeline ${oldTimeline} forked at ${fork ?? '?'}, lost rows inserted at ${lostRows[0]?.lsn ?? '?'}..${lostRows.at(-1)?.lsn ?? '?'}` : ''}), max primaries ${maxPrimaries}${fence ? `, fence: ${fence.decision.act ? `deleted=${fence.deleted} in ${fence.ms} ms` : fence.decision.reason}` : ''}${agent ? `, agent: ${agent.killed} killed, ${agent.leader ?? 'nobody'} led after ${agent.takeoverSeconds.toFixed(1)} s, primary ${agent.primaryBefore} → ${agent.primaryAfter}, fence ${agent.fence}${agent.fencedBy ? ` by ${agent.fencedBy} ${agent.fenceAfterPrimaryKillSeconds?.toFixed(1)} s after the primary's kill` : ''}` : ''}${restart ? `, restart: ${restart.actions.join(' → ')} in ${restart.seconds.toFixed(1)} s, at most ${maxDown} member(s) down` : ''}`,
    );
    return result;
  } finally {
    await writer.stop().catch(() => undefined);
    await fencer?.stop();
  }
}
