import type { BackendName, DriftItem, DriftState, PlannedAction } from '../backends/types.js';
import type { ManifestProblem } from '../core/errors.js';
import type { PauseInfo } from '../gate/pause.js';

/** The cycle's steps, in order. */
export type StepName =
  'source' | 'validate' | 'observe' | 'plan' | 'gate' | 'apply' | 'verify' | 'report';

export interface StepTiming {
  step: StepName;
  startedAt: string;
  ms: number;
  ok: boolean;
  error?: string;
}

/** What became of one planned action in this cycle. */
export type ActionResult =
  | 'applied'
  /** Already done according to the journal (e.g. by a previous leader). */
  | 'skipped'
  | 'blocked'
  | 'failed'
  /** Not attempted: an earlier action failed or was blocked, or leadership was lost. */
  | 'not-run';

export interface ActionRecord {
  key: string;
  backend: BackendName;
  summary: string;
  risk: PlannedAction['risk'];
  result: ActionResult;
  reason?: string;
  ms?: number;
  /** The drift item the action puts right (PlannedAction.resource). */
  resource?: string;
  /** Blocked because this prerequisite failed or was blocked. */
  blockedBy?: string;
  /** Failed: failed attempts in a row, and when the journal lets it run again. */
  attempts?: number;
  nextTryAt?: string;
}

export interface BackendReport {
  backend: BackendName;
  state: DriftState;
  items: DriftItem[];
  actions: ActionRecord[];
  refusals: Array<{ resource: string; reason: string }>;
  /** Drift this cycle found and corrected (desired and live as found before acting). */
  corrected?: DriftItem[];
  error?: string;
}

/**
 * The cycle's overall status. `rejected`: the manifest set failed validation and nothing
 * was applied; `blocked`: paused, or a safety condition held actions back.
 */
export type OverallStatus = DriftState | 'rejected';

export interface DriftReport {
  /** Assigned by the store; 0 before it is saved. */
  seq: number;
  cluster: string;
  /** The replica that wrote it, and whether it led (only the leader acts). */
  agent: string;
  leader: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  status: OverallStatus;
  source: {
    kind: 'git' | 'folder';
    /** What the source holds now: a commit sha, or a folder digest. */
    revision: string | null;
    /** The revision of the set this cycle compared against (the last good one if rejected). */
    actedOn: string | null;
    ref?: string;
    /** Subject and author of the source's commit (git only). */
    commit?: { subject: string; author: string };
  };
  paused: PauseInfo | null;
  validation: { ok: boolean; problems: ManifestProblem[] };
  backends: BackendReport[];
  steps: StepTiming[];
  errors: string[];
}

/** Precedence when several states meet: the worst wins. */
const ORDER: OverallStatus[] = ['in-sync', 'drifted', 'acting', 'blocked', 'failed', 'rejected'];

export function worstOf(states: Iterable<OverallStatus>): OverallStatus {
  let worst: OverallStatus = 'in-sync';
  for (const s of states) if (ORDER.indexOf(s) > ORDER.indexOf(worst)) worst = s;
  return worst;
}

export function countDrifted(report: DriftReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of report.backends) {
    out[b.backend] = b.items.filter((i) => i.state !== 'in-sync').length;
  }
  return out;
}
