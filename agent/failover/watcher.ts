/**
 * Fenced fast failover: listens to the Docker engine's container `die` events; when the
 * container that died ran a group's primary and the engine that ran it confirms it exited,
 * deletes that group's Patroni leader key with a compare on its value and revision, so a
 * replica promotes in seconds instead of after the key's ttl. The decision is decide.ts.
 */
import type Docker from 'dockerode';
import type { Logger } from '../core/log.js';
import { PATRONI_NAMESPACE } from '../cluster/names.js';
import type { PatroniStore } from '../backends/patroni/transport.js';
import { LABEL_CLUSTER, LABEL_GROUP, LABEL_ROLE } from '../backends/swarm/types.js';
import {
  decideFence,
  leaderKeyOf,
  memberKeyOf,
  memberName,
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

export class FencedFailover {
  readonly #o: FencedFailoverOptions;
  #stream: NodeJS.ReadableStream | undefined;
  #stopped = false;
  #since = Math.floor(Date.now() / 1000);
  #groups: GroupService[] = [];

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
    if (this.#o.active && !this.#o.active()) {
      const outcome = {
        decision: { act: false as const, reason: 'not active' },
        deleted: false,
        ms: 0,
      };
      this.#o.onOutcome?.(event, outcome);
      return outcome;
    }
    const group = this.#groups.find((g) => g.service === event.service);
    const namespace = this.#o.namespace ?? PATRONI_NAMESPACE;
    const [container, task, keys] = group
      ? await Promise.all([
          this.#container(event.containerId),
          this.#task(event),
          this.#keys(namespace, group.scope, memberName(group.scope, event.slot)),
        ])
      : [undefined, undefined, undefined];
    const decision = decideFence({
      event,
      groups: this.#groups,
      container,
      task,
      leader: keys?.leader,
      memberKey: keys?.member,
      namespace,
    });
    let deleted = false;
    if (decision.act) {
      deleted = await this.#o.store.deleteIf(
        decision.key,
        decision.value,
        decision.modRevision,
        decision.also,
      );
    }
    const outcome: FenceOutcome = { decision, deleted, ms: Date.now() - t0 };
    const fields = {
      service: event.service,
      slot: event.slot,
      exitCode: event.exitCode,
      ms: outcome.ms,
    };
    if (decision.act) {
      this.#o.log.warn(
        { ...fields, scope: decision.scope, member: decision.member, deleted },
        deleted
          ? 'fenced failover: leader key of a dead primary deleted'
          : 'fenced failover: leader key changed meanwhile, left alone',
      );
    } else {
      this.#o.log.info({ ...fields, reason: decision.reason }, 'fenced failover: no action');
    }
    this.#o.onOutcome?.(event, outcome);
    return outcome;
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

  /** The group's leader key and the dead member's presence key, in one read. */
  async #keys(
    namespace: string,
    scope: string,
    member: string,
  ): Promise<{ leader: LeaderKey | undefined; member: { modRevision: string } | undefined }> {
    const kvs = await this.#o.store.list(`${namespace}${scope}/`);
    const leader = kvs.find((x) => x.key === leaderKeyOf(namespace, scope));
    const presence = kvs.find((x) => x.key === memberKeyOf(namespace, scope, member));
    return {
      leader: leader ? { value: leader.value, modRevision: leader.modRevision } : undefined,
      member: presence ? { modRevision: presence.modRevision } : undefined,
    };
  }
}
