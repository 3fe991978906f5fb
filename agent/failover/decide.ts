/**
 * Pure: may the agent delete a group's Patroni leader key because its primary's container
 * is dead? Yes only when the engine that ran the container says so (its `die` event and
 * its own inspect), Swarm does not say that node is out of contact, and the key still
 * names that member at the revision read after the death. Everything else waits for
 * Patroni's ttl. docs/ha.md explains why this cannot make two primaries.
 */

/** A pgmesh database group's service, from its labels. */
export interface GroupService {
  service: string;
  /** The Patroni scope (= the group's name). */
  scope: string;
}

export interface DieEvent {
  containerId: string;
  /** `com.docker.swarm.service.name` of the container. */
  service: string;
  /** The task slot, from `com.docker.swarm.task.name` (`<service>.<slot>.<task id>`). */
  slot: number;
  exitCode: string | undefined;
}

/** What the engine that emitted the event says about the container now. */
export interface ContainerState {
  running: boolean;
  pid: number;
  /** Whether the engine that inspected it is the one that ran it (the event's engine). */
  sameEngine: boolean;
}

/**
 * The Swarm manager's view of the task, as the node's engine last reported it. It lags the
 * engine (the exit is recorded 0.3–1.4 s after the `die` event), so it is not waited for.
 */
export interface TaskState {
  state: string;
  containerId: string | undefined;
  /** The node's status as the manager sees it: `ready`, `down`, `unknown`, `disconnected`. */
  nodeStatus: string;
}

export interface LeaderKey {
  value: string;
  modRevision: string;
}

export type FenceDecision =
  | { act: true; scope: string; member: string; key: string; value: string; modRevision: string }
  | { act: false; reason: string };

export function memberName(scope: string, slot: number): string {
  return `${scope}-${slot}`;
}

export function leaderKeyOf(namespace: string, scope: string): string {
  return `${namespace}${scope}/leader`;
}

export function decideFence(input: {
  event: DieEvent;
  groups: GroupService[];
  container: ContainerState | undefined;
  task: TaskState | undefined;
  leader: LeaderKey | undefined;
  namespace: string;
}): FenceDecision {
  const { event } = input;
  const group = input.groups.find((g) => g.service === event.service);
  if (!group)
    return { act: false, reason: `${event.service} is not a database group of this cluster` };
  const member = memberName(group.scope, event.slot);
  if (!input.container || !input.container.sameEngine) {
    return {
      act: false,
      reason: `the engine that ran ${member}'s container did not confirm its death`,
    };
  }
  if (input.container.running || input.container.pid !== 0) {
    return { act: false, reason: `${member}'s container still runs (pid ${input.container.pid})` };
  }
  // The engine's word is the confirmation; Swarm's record may still say `running`. But a
  // manager that sees the node out of contact contradicts it: then nothing is done.
  if (input.task && input.task.containerId !== event.containerId) {
    return { act: false, reason: `the Swarm task of ${member} names another container` };
  }
  if (input.task && input.task.nodeStatus !== 'ready') {
    return {
      act: false,
      reason: `the node of ${member} is ${input.task.nodeStatus}: contact lost, Patroni's ttl applies`,
    };
  }
  if (!input.leader) return { act: false, reason: `${group.scope} has no leader key` };
  if (input.leader.value !== member) {
    return { act: false, reason: `${group.scope} is led by ${input.leader.value}, not ${member}` };
  }
  return {
    act: true,
    scope: group.scope,
    member,
    key: leaderKeyOf(input.namespace, group.scope),
    value: member,
    modRevision: input.leader.modRevision,
  };
}
