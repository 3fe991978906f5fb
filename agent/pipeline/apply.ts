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
 * The keys each action needs: its own `dependsOn`, or, when the backend does not say,
 * every earlier action of the same backend (pure).
 */
export function prerequisites(actions: PlannedAction[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  actions.forEach((a, i) => {
    out.set(
      a.key,
      a.dependsOn ??
        actions
          .slice(0, i)
          .filter((b) => b.backend === a.backend)
          .map((b) => b.key),
    );
  });
  return out;
}

/**
 * Step 6: one action at a time, in order, as a dependency graph. Before each: leadership
 * and the gate (the pause flag is kept current by a watch, so this is the multi-step
 * apply's safe point and costs no round-trip). An action whose prerequisite failed or was
 * blocked is `blocked (by <key>)`; the others go on. Each runs once per idempotency key
 * through the journal, which also holds a failed one back until its backoff has passed.
 */
export async function applyActions(input: ApplyInput): Promise<ActionRecord[]> {
  const { actions, log } = input;
  const out: ActionRecord[] = [];
  const needs = prerequisites(actions);
  /** Keys that did not succeed in this cycle: their dependents are blocked. */
  const unmet = new Set<string>();
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i] as PlannedAction;
    const alog = log.child({ key: action.key, backend: action.backend });
    const base = {
      key: action.key,
      backend: action.backend,
      summary: action.summary,
      risk: action.risk,
      ...(action.resource !== undefined ? { resource: action.resource } : {}),
    };
    if (input.signal.aborted) {
      out.push(...recordsFor(actions.slice(i), 'not-run', 'leadership lost'));
      break;
    }
    const by = (needs.get(action.key) ?? []).find((k) => unmet.has(k));
    if (by) {
      unmet.add(action.key);
      out.push({ ...base, result: 'blocked', reason: `blocked (by ${by})`, blockedBy: by });
      continue;
    }
    const decision = await input.gate.check(action);
    if (!decision.allowed) {
      alog.warn({ reason: decision.reason }, 'action blocked');
      if (decision.code === 'paused') {
        out.push(...recordsFor(actions.slice(i), 'blocked', decision.reason));
        break;
      }
      unmet.add(action.key);
      out.push({ ...base, result: 'blocked', reason: decision.reason });
      continue;
    }
    const backend = input.backends.find((b) => b.name === action.backend);
    const t0 = Date.now();
    if (!backend) {
      unmet.add(action.key);
      out.push({ ...base, result: 'failed', reason: `no backend ${action.backend}` });
      continue;
    }
    try {
      const res = await input.journal.runOnce(
        action.key,
        () => {
          alog.info({ risk: action.risk }, 'action starting');
          return backend.apply(action, alog);
        },
        { summary: action.summary },
      );
      if (res.ran) {
        out.push({ ...base, result: 'applied', ms: Date.now() - t0 });
        alog.info({ ms: Date.now() - t0 }, 'action applied');
      } else if (res.why === 'backing-off') {
        // Logged when it failed; here only the report says when it is tried again.
        unmet.add(action.key);
        out.push({
          ...base,
          result: 'failed',
          reason: `${res.entry.error ?? 'failed'} (attempt ${res.entry.attempts ?? 1}; next try at ${res.entry.nextTryAt})`,
          attempts: res.entry.attempts ?? 1,
          ...(res.entry.nextTryAt ? { nextTryAt: res.entry.nextTryAt } : {}),
        });
      } else {
        out.push({ ...base, result: 'skipped', reason: `already done by ${res.entry.holder}` });
        alog.info({ holder: res.entry.holder }, 'action already done');
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const entry = await input.journal.get(action.key).catch(() => null);
      alog.error(
        { err: reason, attempts: entry?.attempts, nextTryAt: entry?.nextTryAt },
        'action failed',
      );
      unmet.add(action.key);
      out.push({
        ...base,
        result: 'failed',
        reason: entry?.nextTryAt
          ? `${reason} (attempt ${entry.attempts ?? 1}; next try at ${entry.nextTryAt})`
          : reason,
        ms: Date.now() - t0,
        ...(entry?.attempts ? { attempts: entry.attempts } : {}),
        ...(entry?.nextTryAt ? { nextTryAt: entry.nextTryAt } : {}),
      });
    }
  }
  return out;
}
