/**
 * Pure: what to do to bring one Patroni scope's dynamic config to what the manifests say,
 * and in which order members restart when a parameter needs it. Never acts against what
 * Patroni owns at run time: a paused scope is left alone, the leader is whoever Patroni
 * says it is, and every restart or switchover re-checks that at apply time.
 */
import { canonicalValue, paramSpec } from './params.js';
import {
  MANAGED_FIELDS,
  type DesiredPatroni,
  type DesiredScope,
  type FieldChange,
  type LiveMember,
  type LivePatroni,
  type LiveScope,
  type PatroniAction,
  type PatroniPlanResult,
} from './types.js';

const PRIMARY_ROLES = new Set(['primary', 'master', 'standby_leader']);
const RUNNING_STATES = new Set(['running', 'streaming']);

export function isPrimaryRole(role: string): boolean {
  return PRIMARY_ROLES.has(role);
}

/** Order of restarts: PostgreSQL's rule for the parameters a standby needs ≥ the primary's. */
export type RestartOrder = 'replicas-first' | 'primary-first';

interface ScopeDiff {
  changes: FieldChange[];
  patch: Record<string, unknown>;
  /** Changed parameters that need a restart. */
  restartParams: string[];
  order: RestartOrder;
  /** Decreases held back because the same change also increases such a parameter. */
  deferred: string[];
}

function liveParameters(config: Record<string, unknown> | null): Record<string, unknown> {
  const pg = (config?.postgresql ?? {}) as { parameters?: Record<string, unknown> };
  return pg.parameters ?? {};
}

function numeric(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Pure: the difference between one desired scope and its live DCS config. */
export function diffScope(desired: DesiredScope, live: LiveScope): ScopeDiff {
  const changes: FieldChange[] = [];
  const patch: Record<string, unknown> = {};
  const config = live.config ?? {};
  for (const field of MANAGED_FIELDS) {
    const want = desired.fields[field];
    if (want === undefined) continue;
    if (config[field] !== want) {
      changes.push({ field, desired: want, live: config[field] ?? null });
      patch[field] = want;
    }
  }

  const current = liveParameters(live.config);
  const changed: Array<{
    name: string;
    desired: unknown;
    live: unknown;
    dir: 'up' | 'down' | null;
  }> = [];
  for (const [name, want] of Object.entries(desired.parameters)) {
    const have = current[name];
    if (have !== undefined && canonicalValue(name, have) === canonicalValue(name, want)) continue;
    let dir: 'up' | 'down' | null = null;
    if (paramSpec(name)?.replicaAtLeast) {
      const a = numeric(want);
      const b = numeric(have);
      dir = a !== undefined && b !== undefined && a < b ? 'down' : 'up';
    }
    changed.push({ name, desired: want, live: have ?? null, dir });
  }
  // PostgreSQL wants increases on the replicas first and decreases on the primary first:
  // one change cannot do both, so decreases wait for a later cycle.
  const ups = changed.some((c) => c.dir === 'up');
  const deferred = ups ? changed.filter((c) => c.dir === 'down').map((c) => c.name) : [];
  const params: Record<string, unknown> = {};
  for (const c of changed) {
    if (deferred.includes(c.name)) continue;
    changes.push({ field: `postgresql.parameters.${c.name}`, desired: c.desired, live: c.live });
    params[c.name] = c.desired;
  }
  if (Object.keys(params).length > 0) patch.postgresql = { parameters: params };
  const restartParams = Object.keys(params).filter((n) => paramSpec(n)?.restart);
  const order: RestartOrder = changed.some((c) => c.dir === 'down' && !deferred.includes(c.name))
    ? 'primary-first'
    : 'replicas-first';
  return { changes, patch, restartParams, order, deferred };
}

/** The order implied by what Patroni reports as pending (a restart left from earlier). */
export function pendingOrder(members: LiveMember[]): RestartOrder {
  for (const m of members) {
    for (const [name, change] of Object.entries(m.pendingReasons)) {
      if (!paramSpec(name)?.replicaAtLeast) continue;
      const from = numeric(change.old);
      const to = numeric(change.new);
      if (from !== undefined && to !== undefined && to < from) return 'primary-first';
    }
  }
  return 'replicas-first';
}

/**
 * Pure: the rolling restart of `toRestart` (member names) in `order`. Replicas first:
 * each replica, then a switchover away from the leader, then the old leader as a replica:
 * the only write gap is the switchover. Primary first (a decrease): the leader restarts in
 * place, then each replica. At most one member is down at a time; each restart step
 * waits for its member to run and catch up before the next starts (apply.ts).
 */
export function restartSequence(input: {
  scope: string;
  leader: string;
  members: LiveMember[];
  toRestart: Set<string>;
  order: RestartOrder;
  parameters: string[];
  afterPatch: boolean;
}): PatroniAction[] {
  const { scope, leader, parameters, afterPatch } = input;
  const replicas = input.members
    .filter((m) => m.name !== leader && input.toRestart.has(m.name))
    .map((m) => m.name)
    .sort();
  const others = input.members.filter((m) => m.name !== leader).length;
  const restart = (
    member: string,
    expectRole: 'primary' | 'replica',
    flagged = afterPatch,
  ): PatroniAction => ({
    kind: 'restart-member',
    scope,
    member,
    expectRole,
    parameters,
    afterPatch: flagged,
  });
  const leaderNeeds = input.toRestart.has(leader);
  if (input.order === 'primary-first') {
    return [
      ...(leaderNeeds ? [restart(leader, 'primary')] : []),
      ...replicas.map((r) => restart(r, 'replica')),
    ];
  }
  const actions = replicas.map((r) => restart(r, 'replica'));
  if (leaderNeeds) {
    if (others > 0) {
      actions.push({ kind: 'switchover', scope, from: leader });
      // The demotion usually restarts it already; this only catches what is still pending.
      actions.push(restart(leader, 'replica', false));
    } else {
      actions.push(restart(leader, 'primary'));
    }
  }
  return actions;
}

function notRunning(members: LiveMember[]): LiveMember[] {
  return members.filter((m) => !RUNNING_STATES.has(m.state));
}

/** Pure: the plan for every scope a PatroniConfig declares. */
export function planPatroni(desired: DesiredPatroni, live: LivePatroni): PatroniPlanResult {
  const result: PatroniPlanResult = { actions: [], notes: [] };
  for (const want of desired.scopes) {
    const scope = live.scopes.find((s) => s.scope === want.scope);
    if (!scope || scope.config === null || scope.members.length === 0) {
      result.notes.push({
        scope: want.scope,
        state: 'blocked',
        reason: `scope ${want.scope} has no Patroni cluster in etcd yet`,
      });
      continue;
    }
    if (scope.paused) {
      result.notes.push({
        scope: want.scope,
        state: 'blocked',
        reason: `Patroni is paused on ${want.scope} (maintenance mode); pgmesh does not act until it is resumed`,
      });
      continue;
    }
    const diff = diffScope(want, scope);
    if (diff.deferred.length > 0) {
      result.notes.push({
        scope: want.scope,
        state: 'deferred',
        reason: `decreases of ${diff.deferred.join(', ')} follow once the increases are applied (PostgreSQL restarts replicas first for increases, the primary first for decreases)`,
      });
    }
    if (diff.changes.length > 0) {
      result.actions.push({
        kind: 'patch-config',
        scope: want.scope,
        patch: diff.patch,
        changes: diff.changes,
      });
    }

    // Restarts: either predicted from this patch, or what Patroni reports as pending.
    const planned = diff.restartParams.length > 0;
    const pending = scope.members.filter((m) => m.pendingRestart);
    if (!planned && pending.length === 0) continue;
    const down = notRunning(scope.members);
    if (!scope.leader || !scope.members.some((m) => m.name === scope.leader)) {
      result.notes.push({
        scope: want.scope,
        state: 'blocked',
        reason: `scope ${want.scope} has no leader; restarts wait for Patroni to elect one`,
      });
      continue;
    }
    if (down.length > 0) {
      result.notes.push({
        scope: want.scope,
        state: 'blocked',
        reason: `restarts wait until every member runs (${down.map((m) => `${m.name} is ${m.state}`).join(', ')}); at most one member is down at a time`,
      });
      continue;
    }
    const parameters = planned
      ? diff.restartParams
      : [...new Set(pending.flatMap((m) => Object.keys(m.pendingReasons)))].sort();
    result.actions.push(
      ...restartSequence({
        scope: want.scope,
        leader: scope.leader,
        members: scope.members,
        toRestart: new Set((planned ? scope.members : pending).map((m) => m.name)),
        order: planned ? diff.order : pendingOrder(scope.members),
        parameters,
        afterPatch: planned,
      }),
    );
  }
  return result;
}

/** One line per action, for plan output, logs and reports. */
export function describePatroniAction(a: PatroniAction): string {
  switch (a.kind) {
    case 'patch-config':
      return `patch Patroni config of ${a.scope} (${a.changes
        .map((c) => `${c.field} ${JSON.stringify(c.live)} → ${JSON.stringify(c.desired)}`)
        .join('; ')})`;
    case 'restart-member':
      return `restart ${a.expectRole} ${a.member} of ${a.scope} for ${a.parameters.join(', ') || 'pending restart'}, then wait until it runs and has caught up`;
    case 'switchover':
      return `switch over ${a.scope} from ${a.from} to a restarted replica`;
    case 'reinit-member':
      return `reinitialize replica ${a.member} of ${a.scope} from the leader (Postgres does not start: ${a.state})`;
  }
}

/** Patroni member states of a Postgres that failed to start. */
export const START_FAILED_STATES = new Set(['start failed', 'crashed']);

/**
 * Pure: replicas of any scope (declared or not) whose Postgres does not start while the
 * scope has a running leader to clone from. Not while Patroni is paused on the scope.
 */
export function planHeal(live: LivePatroni): PatroniAction[] {
  const actions: PatroniAction[] = [];
  for (const s of live.scopes) {
    if (s.paused || !s.leader) continue;
    const leader = s.members.find((m) => m.name === s.leader);
    if (!leader || !RUNNING_STATES.has(leader.state)) continue;
    for (const m of s.members) {
      if (m.name === s.leader || !START_FAILED_STATES.has(m.state)) continue;
      actions.push({ kind: 'reinit-member', scope: s.scope, member: m.name, state: m.state });
    }
  }
  return actions;
}
