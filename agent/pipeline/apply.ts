import type { PlannedAction } from '../backends/types.js';
import type { Logger } from '../core/log.js';
import type { Gate } from '../gate/gate.js';
import type { ActionJournal } from '../journal/memory.js';
import type { ActionRecord } from '../report/model.js';
import { recordsFor } from './gate.js';
import type { BoundBackend } from './types.js';

export interface ApplyInput {
  /** In apply order. */
  actions: PlannedAction[];
  backends: BoundBackend[];
  gate: Gate;
  journal: ActionJournal;
  /** Aborted when this replica stops leading: no further action starts. */
  signal: AbortSignal;
  log: Logger;
}

/**
 * Step 6: one action at a time, in order. Before each: leadership and the gate (the pause
 * flag is kept current by a watch, so this is the multi-step apply's safe point and costs
 * no round-trip). Each action runs once per idempotency key, through the journal. The first
 * failure or block stops the rest: later actions may depend on it.
 */
export async function applyActions(input: ApplyInput): Promise<ActionRecord[]> {
  const { actions, log } = input;
  const out: ActionRecord[] = [];
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i] as PlannedAction;
    const rest = actions.slice(i + 1);
    if (input.signal.aborted) {
      out.push(...recordsFor(actions.slice(i), 'not-run', 'leadership lost'));
      break;
    }
    const decision = await input.gate.check(action);
    if (!decision.allowed) {
      log.warn(
        { key: action.key, backend: action.backend, reason: decision.reason },
        'action blocked',
      );
      out.push(...recordsFor([action], 'blocked', decision.reason));
      out.push(
        ...(decision.code === 'paused'
          ? recordsFor(rest, 'blocked', decision.reason)
          : recordsFor(rest, 'not-run', `after blocked action ${action.key}`)),
      );
      break;
    }
    const backend = input.backends.find((b) => b.name === action.backend);
    const t0 = Date.now();
    const base = {
      key: action.key,
      backend: action.backend,
      summary: action.summary,
      risk: action.risk,
    };
    if (!backend) {
      out.push({ ...base, result: 'failed', reason: `no backend ${action.backend}` });
      out.push(...recordsFor(rest, 'not-run', `after failed action ${action.key}`));
      break;
    }
    try {
      log.info({ key: action.key, backend: action.backend, risk: action.risk }, 'action starting');
      const res = await input.journal.runOnce(action.key, () => backend.apply(action, log), {
        summary: action.summary,
      });
      if (res.ran) {
        out.push({ ...base, result: 'applied', ms: Date.now() - t0 });
        log.info(
          { key: action.key, backend: action.backend, ms: Date.now() - t0 },
          'action applied',
        );
      } else {
        out.push({ ...base, result: 'skipped', reason: `already done by ${res.entry.holder}` });
        log.info({ key: action.key, holder: res.entry.holder }, 'action already done');
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      log.error({ key: action.key, backend: action.backend, err: reason }, 'action failed');
      out.push({ ...base, result: 'failed', reason, ms: Date.now() - t0 });
      out.push(...recordsFor(rest, 'not-run', `after failed action ${action.key}`));
      break;
    }
  }
  return out;
}
