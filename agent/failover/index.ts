export {
  decideFence,
  leaderKeyOf,
  memberName,
  type ContainerState,
  type DieEvent,
  type FenceDecision,
  type GroupService,
  type LeaderKey,
  type TaskState,
} from './decide.js';
export {
  FencedFailover,
  dieEventOf,
  type FenceOutcome,
  type FencedFailoverOptions,
} from './watcher.js';
