/** The patroni backend: each scope's dynamic config and the rolling restarts it needs. */
import { createHash } from 'node:crypto';
import type { ManifestSet, PatroniConfigManifest } from '../../manifests/types.js';
import type { Backend, BackendPlan, DriftItem, PlannedAction } from '../types.js';
import { applyPatroniAction, type PatroniApplyOptions } from './apply.js';
import { observePatroni } from './observe.js';
import { describePatroniAction, planHeal, planPatroni } from './plan.js';
import type { PatroniHttp, PatroniStore } from './transport.js';
import {
  MANAGED_FIELDS,
  type DesiredPatroni,
  type DesiredScope,
  type LivePatroni,
  type PatroniAction,
} from './types.js';

export { applyPatroniAction, switchoverCandidate } from './apply.js';
export { liveFromKeys, observePatroni } from './observe.js';
export { checkPatroniConfig } from './check.js';
export { PARAMETERS, canonicalValue, paramSpec } from './params.js';
export {
  describePatroniAction,
  diffScope,
  isPrimaryRole,
  pendingOrder,
  planHeal,
  planPatroni,
  restartSequence,
} from './plan.js';
export {
  dockerEtcdStore,
  dockerHttp,
  etcd3Store,
  fetchHttp,
  type Kv,
  type PatroniHttp,
  type PatroniStore,
} from './transport.js';
export type * from './types.js';

export interface PatroniContext extends Omit<PatroniApplyOptions, 'log'> {
  store: PatroniStore;
  http: PatroniHttp;
}

export interface PatroniPlannedAction extends PlannedAction {
  action: PatroniAction;
}

/** Pure: the scopes the set's PatroniConfig documents declare. */
export function desiredFromSet(set: Pick<ManifestSet, 'documents'>): DesiredPatroni {
  const scopes = set.documents
    .map((d) => ({ file: d.file, m: d.manifest }))
    .filter((d): d is { file: string; m: PatroniConfigManifest } => d.m.kind === 'PatroniConfig')
    .map(({ file, m }): DesiredScope => {
      const fields: DesiredScope['fields'] = {};
      for (const f of MANAGED_FIELDS) {
        const v = m.spec[f];
        if (v !== undefined) fields[f] = v;
      }
      return {
        scope: m.spec.scope,
        source: `${file}: PatroniConfig ${m.metadata.name}`,
        fields,
        parameters: { ...(m.spec.postgresql?.parameters ?? {}) },
      };
    });
  return { scopes };
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/**
 * The key names the step and the live state it was planned on (the config key's etcd
 * revision, which every PATCH changes; the leader; the pending flags), so a finished step
 * is never repeated, and the same change made again later is a new step.
 */
function actionKey(a: PatroniAction, live: LivePatroni): string {
  const scope = live.scopes.find((s) => s.scope === a.scope);
  const fingerprint = {
    a,
    revision: scope?.configRevision ?? '',
    leader: scope?.leader,
    pending: scope?.members.map((m) => [m.name, m.pendingRestart]),
  };
  const who =
    a.kind === 'restart-member' || a.kind === 'reinit-member'
      ? `:${a.member}`
      : a.kind === 'switchover'
        ? `:${a.from}`
        : '';
  return `patroni:${a.kind}:${a.scope}${who}:${hash(fingerprint)}`;
}

function risk(a: PatroniAction): PlannedAction['risk'] {
  // A reinit touches only a replica that is down already: it cannot wait for a healthy
  // cluster, since it is what makes the cluster healthy again.
  return a.kind === 'patch-config' || a.kind === 'reinit-member' ? 'safe' : 'disruptive';
}

/** Pure: the plan, wrapped for the pipeline, with a drift item per declared scope. */
export function planFromManifests(
  desired: DesiredPatroni,
  live: LivePatroni,
): BackendPlan<PatroniPlannedAction> {
  const result = planPatroni(desired, live);
  const heal = planHeal(live);
  const actions = [...heal, ...result.actions].map((a): PatroniPlannedAction => ({
    key: actionKey(a, live),
    backend: 'patroni',
    summary: describePatroniAction(a),
    risk: risk(a),
    action: a,
  }));
  const drift: DriftItem[] = desired.scopes.map((s) => {
    const mine = result.actions.filter((a) => a.scope === s.scope);
    const patch = mine.find((a) => a.kind === 'patch-config');
    const restarts = mine.filter((a) => a.kind === 'restart-member');
    const blocked = result.notes.find((n) => n.scope === s.scope && n.state === 'blocked');
    const deferred = result.notes.find((n) => n.scope === s.scope && n.state === 'deferred');
    const differences = [
      ...(patch?.kind === 'patch-config' ? patch.changes : []),
      ...restarts.map((r) => ({
        field: `restart/${r.kind === 'restart-member' ? r.member : ''}`,
        desired: 'restarted',
        live: 'pending restart',
      })),
    ];
    const reason = [blocked?.reason, deferred?.reason].filter(Boolean).join('; ');
    return {
      backend: 'patroni',
      resource: `scope/${s.scope}`,
      state: blocked ? 'blocked' : differences.length > 0 || deferred ? 'drifted' : 'in-sync',
      differences,
      ...(reason ? { reason } : {}),
    };
  });
  for (const h of heal) {
    if (h.kind !== 'reinit-member') continue;
    drift.push({
      backend: 'patroni',
      resource: `member/${h.member}`,
      state: 'drifted',
      differences: [{ field: 'state', desired: 'running', live: h.state }],
      reason: `Postgres of ${h.member} does not start; it is cloned again from the leader of ${h.scope}`,
    });
  }
  // A blocked scope (Patroni paused, no leader) is reported in its drift item, not as a
  // refusal: it must not stop the other scopes or backends.
  return { actions, refusals: [], drift };
}

export const patroniBackend: Backend<
  PatroniContext,
  DesiredPatroni,
  LivePatroni,
  PatroniPlannedAction
> = {
  name: 'patroni',
  desired: (set: ManifestSet) => desiredFromSet(set),
  observe: async (ctx: PatroniContext) => observePatroni(ctx.store),
  plan: planFromManifests,
  apply: (action, ctx, log) => applyPatroniAction(action.action, { ...ctx, log }),
};
