/**
 * Fenced fast failover: listens to the Docker engine's container `die` events; when the
 * container that died ran a group's primary and the engine that ran it confirms it exited,
 * deletes that group's Patroni leader key with a compare on its value and revision, so a
 * replica promotes in seconds instead of after the key's ttl. The decision is decide.ts.
 */
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
import { PATRONI_NAMESPACE } from '../core/names.js';
import type { PatroniStore } from '../backends/patroni/transport.js';
import { LABEL_CLUSTER, LABEL_GROUP, LABEL_ROLE } from '../backends/swarm/types.js';
import {
  decideFence,
  leaderKeyOf,
  type ContainerState,
  type DieEvent,
  type FenceDecision,
  type GroupService,
  type LeaderKey,
  type TaskState,
} from './decide.js';

export interface FenceOutcome {
  decision: FenceDecision;
  /** Whether the compare-and-delete succeeded (only when the decision was to act). */
  deleted: boolean;
  /** Milliseconds from the event's arrival to the decision's end. */
  ms: number;
}

export interface FencedFailoverOptions {
  docker: Docker;
  cluster: string;
  store: PatroniStore;
  log: Logger;
  namespace?: string;
  /** Only while this returns true does it act (e.g. only the leading agent replica). */
  active?: () => boolean;
  onOutcome?: (event: DieEvent, outcome: FenceOutcome) => void;
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Pure: a Docker event as a DieEvent of a Swarm task's container, or undefined. */
export function dieEventOf(e: DockerEvent): DieEvent | undefined {
  if (e.Type !== 'container' || e.Action !== 'die') return undefined;
  const attrs = e.Actor?.Attributes ?? {};
  const service = attrs['com.docker.swarm.service.name'];
  const task = attrs['com.docker.swarm.task.name'];
  if (!service || !task || !e.Actor?.ID) return undefined;
  const slot = Number(task.split('.')[1]);
  if (!Number.isInteger(slot) || slot < 1) return undefined;
  return { containerId: e.Actor.ID, service, slot, exitCode: attrs.exitCode };
}

/** How long a death confirmed while not active may still be fenced on becoming active. */
const DEFERRED_MAX_AGE_MS = 60_000;

export class FencedFailover {
  readonly #o: FencedFailoverOptions;
  #stream: NodeJS.ReadableStream | undefined;
  #stopped = false;
  #since = Math.floor(Date.now() / 1000);
  #groups: GroupService[] = [];
  /** Decisions to act taken while not active, with the leader key as read after the death. */
  #deferred: Array<{ event: DieEvent; decision: FenceDecision & { act: true }; at: number }> = [];

  constructor(options: FencedFailoverOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#refreshGroups();
    await this.#subscribe();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const s = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    s?.destroy?.();
    this.#stream = undefined;
  }

  async #refreshGroups(): Promise<void> {
    const services = await this.#o.docker.listServices({
      filters: { label: [`${LABEL_CLUSTER}=${this.#o.cluster}`] },
    });
    this.#groups = services
      .filter((s) => ['coordinator', 'worker'].includes(s.Spec?.Labels?.[LABEL_ROLE] ?? ''))
      .map((s) => ({ service: s.Spec?.Name ?? '', scope: s.Spec?.Labels?.[LABEL_GROUP] ?? '' }));
  }

  async #subscribe(): Promise<void> {
    const stream = (await this.#o.docker.getEvents({
      since: this.#since,
      filters: { type: ['container'], event: ['die'] },
    })) as NodeJS.ReadableStream;
    this.#stream = stream;
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) this.#onLine(line);
      }
    });
    const again = (why: string): void => {
      if (this.#stopped || this.#stream !== stream) return;
      this.#o.log.warn({ why }, 'docker event stream lost; subscribing again');
      this.#stream = undefined;
      setTimeout(() => {
        if (!this.#stopped) this.#subscribe().catch((err: unknown) => again(String(err)));
      }, 1000);
    };
    stream.on('error', (err: Error) => again(err.message));
    stream.on('end', () => again('end'));
  }

  #onLine(line: string): void {
    let e: DockerEvent;
    try {
      e = JSON.parse(line) as DockerEvent;
    } catch {
      return;
    }
    if (typeof e.time === 'number') this.#since = e.time;
    const die = dieEventOf(e);
    if (!die) return;
    this.handle(die).catch((err: unknown) =>
      this.#o.log.error({ err, service: die.service, slot: die.slot }, 'fenced failover failed'),
    );
  }

  /** Decides on one die event and, if the decision is to act, deletes the leader key. */
  async handle(event: DieEvent): Promise<FenceOutcome> {
    const t0 = Date.now();
    if (!this.#groups.some((g) => g.service === event.service)) await this.#refreshGroups();
    const group = this.#groups.find((g) => g.service === event.service);
    const namespace = this.#o.namespace ?? PATRONI_NAMESPACE;
    const [container, task, leader] = group
      ? await Promise.all([
          this.#container(event.containerId),
          this.#task(event),
          this.#leader(leaderKeyOf(namespace, group.scope)),
        ])
      : [undefined, undefined, undefined];
    const decision = decideFence({
      event,
      groups: this.#groups,
      container,
      task,
      leader,
      namespace,
    });
    if (this.#o.active && !this.#o.active()) {
      // A death seen while another replica leads: that one fences it. If it is dead too
      // (the agent leader and a primary lost together), this replica fences on taking
      // over (takeOver), with the key as read here.
      if (decision.act) this.#defer(event, decision);
      const outcome = {
        decision: { act: false as const, reason: 'not active' },
        deleted: false,
        ms: Date.now() - t0,
      };
      this.#o.onOutcome?.(event, outcome);
      return outcome;
    }
    if (decision.act) return this.#fence(event, decision, t0);
    const outcome: FenceOutcome = { decision, deleted: false, ms: Date.now() - t0 };
    this.#o.log.info(
      {
        service: event.service,
        slot: event.slot,
        exitCode: event.exitCode,
        ms: outcome.ms,
        reason: decision.reason,
      },
      'fenced failover: no action',
    );
    this.#o.onOutcome?.(event, outcome);
    return outcome;
  }

  /**
   * The compare-and-delete of a decision to act, logged and reported; `since` is when the
   * death was seen (the outcome's milliseconds count from it).
   */
  async #fence(
    event: DieEvent,
    decision: FenceDecision & { act: true },
    since: number,
    extra: { deferred?: true } = {},
  ): Promise<FenceOutcome> {
    const deleted = await this.#o.store.deleteIf(
      decision.key,
      decision.value,
      decision.modRevision,
    );
    const outcome: FenceOutcome = { decision, deleted, ms: Date.now() - since };
    this.#o.log.warn(
      {
        service: event.service,
        slot: event.slot,
        exitCode: event.exitCode,
        ms: outcome.ms,
        scope: decision.scope,
        member: decision.member,
        deleted,
        ...extra,
      },
      deleted
        ? 'fenced failover: leader key of a dead primary deleted'
        : 'fenced failover: leader key changed meanwhile, left alone',
    );
    this.#o.onOutcome?.(event, outcome);
    return outcome;
  }

  #defer(event: DieEvent, decision: FenceDecision & { act: true }): void {
    const now = Date.now();
    this.#deferred = [
      ...this.#deferred.filter((d) => now - d.at < DEFERRED_MAX_AGE_MS),
      { event, decision, at: now },
    ];
  }

  /**
   * On becoming active: deletes the leader keys of primaries whose death was confirmed
   * while not active. Safe however late: the compare is on the value and revision read
   * right after the death, so a key that anything wrote since (a promoted replica, the
   * restarted member taking it back) stays.
   */
  async takeOver(): Promise<FenceOutcome[]> {
    const now = Date.now();
    const due = this.#deferred.filter((d) => now - d.at < DEFERRED_MAX_AGE_MS);
    this.#deferred = [];
    const outcomes: FenceOutcome[] = [];
    for (const { event, decision, at } of due) {
      if (this.#o.active && !this.#o.active()) break;
      outcomes.push(await this.#fence(event, decision, at, { deferred: true }));
    }
    return outcomes;
  }

  async #container(id: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.#o.docker.getContainer(id).inspect();
      // Asked of the engine whose event stream reported the death: the one that ran it.
      return { running: info.State.Running, pid: info.State.Pid, sameEngine: true };
    } catch {
      return undefined;
    }
  }

  /**
   * Swarm's task of the dead container as the manager has it now, without waiting for it
   * to record the exit (it lags the engine by up to 1.4 s; decide.ts does not need it).
   */
  async #task(event: DieEvent): Promise<TaskState | undefined> {
    const tasks = (await this.#o.docker.listTasks({
      filters: { service: [event.service] },
    })) as Array<{
      NodeID?: string;
      Status?: { State?: string; ContainerStatus?: { ContainerID?: string } };
    }>;
    const t = tasks.find((x) => x.Status?.ContainerStatus?.ContainerID === event.containerId);
    if (!t) return undefined;
    const node = t.NodeID
      ? ((await this.#o.docker.getNode(t.NodeID).inspect()) as { Status?: { State?: string } })
      : undefined;
    return {
      state: t.Status?.State ?? 'unknown',
      containerId: t.Status?.ContainerStatus?.ContainerID,
      nodeStatus: node?.Status?.State ?? 'unknown',
    };
  }

  async #leader(key: string): Promise<LeaderKey | undefined> {
    const kv = (await this.#o.store.list(key)).find((x) => x.key === key);
    return kv ? { value: kv.value, modRevision: kv.modRevision } : undefined;
  }
}
