import type { PlannedAction } from '../backends/types.js';
import { describePause } from '../gate/gate.js';
import type { PauseInfo } from '../gate/pause.js';
import type { ActionRecord } from '../report/model.js';

export type CycleGate =
  { act: true } | { act: false; result: 'blocked' | 'not-run'; reason: string };

/**
 * Step 5, for the cycle as a whole: may this replica start any action now? Each action is
 * checked again just before it starts (apply.ts), because a pause can arrive meanwhile.
 */
export function gateCycle(input: {
  leader: boolean;
  validationOk: boolean;
  pause: PauseInfo | null;
}): CycleGate {
  if (!input.validationOk) {
    return { act: false, result: 'not-run', reason: 'manifest set rejected: nothing is applied' };
  }
  if (!input.leader) {
    return { act: false, result: 'not-run', reason: 'observer replica: only the leader acts' };
  }
  if (input.pause) return { act: false, result: 'blocked', reason: describePause(input.pause) };
  return { act: true };
}

export function recordsFor(
  actions: PlannedAction[],
  result: ActionRecord['result'],
  reason: string,
): ActionRecord[] {
  return actions.map((a) => ({
    key: a.key,
    backend: a.backend,
    summary: a.summary,
    risk: a.risk,
    ...(a.resource !== undefined ? { resource: a.resource } : {}),
    result,
    reason,
  }));
}
