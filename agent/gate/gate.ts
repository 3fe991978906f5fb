import type { PlannedAction } from '../backends/types.js';
import type { PauseInfo } from './pause.js';

export type Risk = PlannedAction['risk'];

export type GateDecision =
  | { allowed: true }
  | { allowed: false; code: 'paused'; reason: string; pause: PauseInfo }
  | { allowed: false; code: 'unsafe'; reason: string };

/**
 * A safety condition for actions of some risk: returns null when the action may go, or the
 * reason it may not (e.g. `replication lag 40 MB > 16 MB on w1`).
 */
export type SafetyCheck = (action: PlannedAction) => Promise<string | null> | string | null;

export interface GateOptions {
  /** The current pause, read without a round-trip (a `PauseWatch`'s `current`). */
  pause: () => PauseInfo | null;
  /** Conditions per risk; `safe` actions pass with only the pause checked. */
  safety?: Partial<Record<Risk, SafetyCheck[]>>;
}

/** Decides, before each action, whether it may start. */
export class Gate {
  readonly #options: GateOptions;

  constructor(options: GateOptions) {
    this.#options = options;
  }

  async check(action: PlannedAction): Promise<GateDecision> {
    const pause = this.#options.pause();
    if (pause) {
      return { allowed: false, code: 'paused', reason: describePause(pause), pause };
    }
    for (const check of this.#options.safety?.[action.risk] ?? []) {
      const reason = await check(action);
      if (reason !== null) return { allowed: false, code: 'unsafe', reason };
    }
    return { allowed: true };
  }
}

export function describePause(pause: PauseInfo): string {
  const since = pause.since ? ` since ${pause.since}` : '';
  const why = pause.reason ? `: ${pause.reason}` : '';
  return `paused by ${pause.by}${since}${why}`;
}
