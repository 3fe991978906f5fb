/**
 * Performs one Patroni action through Patroni's REST API. Every step re-reads the scope
 * first and checks that what it was planned on still holds (the leader, the member's
 * role); when Patroni has changed it, the step does nothing or fails, and the next cycle
 * plans again from what Patroni says. Restart steps return only once their member runs
 * again and has caught up, so at most one member of a group is ever down.
 */
import { ApplyFailedError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { waitFor } from '../../core/wait.js';
import { observePatroni } from './observe.js';
import { describePatroniAction, isPrimaryRole } from './plan.js';
import type { PatroniHttp, PatroniStore } from './transport.js';
import type { LiveMember, LiveScope, PatroniAction } from './types.js';

export interface PatroniApplyOptions {
  store: PatroniStore;
  http: PatroniHttp;
  log: Logger;
  /** How long Patroni may take to flag a pending restart after a config patch (default 30 s). */
  pendingWaitMs?: number;
  /** How long a member may take to run and catch up after a restart (default 180 s). */
  recoverTimeoutMs?: number;
  /** How long a failed member is watched before it is reinitialized (default 20 s). */
  reinitSettleMs?: number;
  /** Replication lag under which a replica counts as caught up (default 1 MiB). */
  caughtUpBytes?: number;
  onProgress?: (line: string) => void;
}

const RUNNING = new Set(['running', 'streaming']);

async function readScope(o: PatroniApplyOptions, scope: string): Promise<LiveScope> {
  const live = await observePatroni(o.store, [scope]);
  const s = live.scopes[0];
  if (!s || s.config === null) throw new ApplyFailedError(`scope ${scope} is not in etcd`);
  return s;
}

function member(s: LiveScope, name: string): LiveMember {
  const m = s.members.find((x) => x.name === name);
  if (!m) throw new ApplyFailedError(`member ${name} of ${s.scope} is not in etcd`);
  return m;
}

async function call(
  o: PatroniApplyOptions,
  method: 'POST' | 'PATCH',
  url: string,
  body: unknown,
): Promise<string> {
  const res = await o.http.request(method, url, body);
  if (res.status < 200 || res.status >= 300) {
    throw new ApplyFailedError(
      `Patroni answered ${res.status} to ${method} ${url}: ${res.body.trim()}`,
    );
  }
  return res.body;
}

/**
 * Runs, and (replicas) streams from the current primary within `bytes`: a replica must
 * have replayed what the primary did before it restarts, since Patroni starts a replica
 * with the larger of its config and what its control file recorded from the primary.
 */
function caughtUp(m: LiveMember, bytes: number): boolean {
  if (!RUNNING.has(m.state)) return false;
  if (isPrimaryRole(m.role)) return true;
  return m.replicationState === 'streaming' && (m.lagBytes ?? 0) <= bytes;
}

/** Waits until every member but `except` runs (the "one down at a time" rule). */
async function othersRunning(o: PatroniApplyOptions, scope: string, except: string): Promise<void> {
  await waitFor(
    async () => {
      const s = await readScope(o, scope);
      const down = s.members.filter((m) => m.name !== except && !RUNNING.has(m.state));
      return down.length === 0 ? true : down.map((m) => `${m.name} is ${m.state}`).join(', ');
    },
    {
      what: `the other members of ${scope} to run before restarting ${except}`,
      timeoutMs: o.recoverTimeoutMs ?? 180_000,
      intervalMs: 1000,
    },
  );
}

async function restartMember(
  o: PatroniApplyOptions,
  a: Extract<PatroniAction, { kind: 'restart-member' }>,
): Promise<void> {
  const s = await readScope(o, a.scope);
  const m = member(s, a.member);
  const primary = isPrimaryRole(m.role) || s.leader === m.name;
  if ((a.expectRole === 'primary') !== primary) {
    throw new ApplyFailedError(
      `${a.member} of ${a.scope} was planned as ${a.expectRole} but is ${m.role} now; Patroni changed roles, the next cycle plans again`,
    );
  }
  // The member's own API, not its etcd key (written once a loop), says whether a restart
  // is pending: a switchover's demotion restarts Postgres and clears it, for example.
  const pendingNow = async (): Promise<boolean> =>
    (await memberStatus(o, m.apiUrl)).pending_restart === true;
  let pending = await pendingNow();
  if (a.afterPatch && !pending) {
    // Patroni flags the restart in its next loop after it reloads the new config.
    const loopWait = typeof s.config?.loop_wait === 'number' ? s.config.loop_wait : 10;
    pending = await waitFor(async () => ((await pendingNow()) ? true : 'no pending restart yet'), {
      what: `Patroni to flag a pending restart on ${a.member}`,
      timeoutMs: Math.min(o.pendingWaitMs ?? 30_000, (3 * loopWait + 5) * 1000),
      intervalMs: 500,
    }).then(
      () => true,
      () => false,
    );
  }
  if (!pending) {
    o.log.info({ scope: a.scope, member: a.member }, 'no pending restart; nothing to do');
    return;
  }
  await othersRunning(o, a.scope, a.member);
  const bytes = o.caughtUpBytes ?? 1024 * 1024;
  // A primary restarted just before (a decrease) must have reached this replica first.
  if (a.expectRole === 'replica') await memberCaughtUp(o, a.scope, a.member, bytes);
  for (let attempt = 1; ; attempt++) {
    const before = (await memberStatus(o, m.apiUrl)).postmaster_start_time;
    o.onProgress?.(`restarting ${a.member} (${a.expectRole}) of ${a.scope}`);
    o.log.info(
      { scope: a.scope, member: a.member, role: a.expectRole, attempt },
      'restarting member',
    );
    // Patroni answers once Postgres is up again (or the restart failed). With
    // restart_pending it refuses (503) when nothing is pending any more: then we are done.
    const res = await o.http.request('POST', `${m.apiUrl}/restart`, { restart_pending: true });
    if (res.status === 503 && !(await pendingNow())) return;
    if (res.status < 200 || res.status >= 300) {
      throw new ApplyFailedError(
        `Patroni answered ${res.status} to a restart of ${a.member}: ${res.body.trim()}`,
      );
    }
    await waitFor(
      async () => {
        const api = await memberStatus(o, m.apiUrl);
        return api.postmaster_start_time !== before && api.state === 'running'
          ? true
          : `${a.member} has not restarted yet`;
      },
      { what: `${a.member} to restart`, timeoutMs: o.recoverTimeoutMs ?? 180_000, intervalMs: 500 },
    );
    await memberCaughtUp(o, a.scope, a.member, bytes);
    const pending = (await memberStatus(o, m.apiUrl)).pending_restart === true;
    if (!pending) return;
    // Still pending: the replica had not yet replayed the primary's new setting when it
    // restarted (it has now caught up), so one more restart takes the new value.
    if (attempt >= 2) {
      throw new ApplyFailedError(
        `${a.member} of ${a.scope} still has a pending restart after ${attempt} restarts`,
      );
    }
  }
}

async function memberCaughtUp(
  o: PatroniApplyOptions,
  scope: string,
  name: string,
  bytes: number,
): Promise<void> {
  await waitFor(
    async () => {
      const now = member(await readScope(o, scope), name);
      return caughtUp(now, bytes)
        ? true
        : `${name} is ${now.state}/${now.replicationState ?? '-'}, ${now.lagBytes ?? '?'} bytes behind`;
    },
    {
      what: `${name} of ${scope} to run and catch up`,
      timeoutMs: o.recoverTimeoutMs ?? 180_000,
      intervalMs: 500,
    },
  );
}

interface MemberApiStatus {
  state?: string;
  role?: string;
  postmaster_start_time?: string;
  pending_restart?: boolean;
}

/** GET /patroni of one member: what only the member's API tells (its postmaster's start). */
async function memberStatus(o: PatroniApplyOptions, apiUrl: string): Promise<MemberApiStatus> {
  const res = await o.http.request('GET', `${apiUrl}/patroni`);
  // 503 is a replica or primary that is not running: its body still describes it.
  try {
    return JSON.parse(res.body) as MemberApiStatus;
  } catch {
    throw new ApplyFailedError(`Patroni at ${apiUrl} answered ${res.status} without JSON`);
  }
}

/** The replica to hand the leader role to: restarted, running, caught up; the sync standby first. */
export function switchoverCandidate(s: LiveScope, from: string, bytes: number): string | undefined {
  const ok = s.members.filter(
    (m) => m.name !== from && !isPrimaryRole(m.role) && !m.pendingRestart && caughtUp(m, bytes),
  );
  const sync = s.config?.synchronous_mode === true;
  if (sync) return ok.find((m) => m.name === s.syncStandby)?.name;
  return [...ok].sort(
    (x, y) => (x.lagBytes ?? 0) - (y.lagBytes ?? 0) || x.name.localeCompare(y.name),
  )[0]?.name;
}

async function switchover(
  o: PatroniApplyOptions,
  a: Extract<PatroniAction, { kind: 'switchover' }>,
): Promise<void> {
  const bytes = o.caughtUpBytes ?? 1024 * 1024;
  const s = await readScope(o, a.scope);
  if (s.leader !== a.from) {
    // Someone (Patroni, an operator) moved the leader already: not ours to undo.
    o.log.info({ scope: a.scope, from: a.from, leader: s.leader }, 'leader already moved');
    return;
  }
  // In synchronous mode Patroni names its sync standby a moment after a replica is back.
  const candidate = await waitFor(
    async () => {
      const now = await readScope(o, a.scope);
      const name = switchoverCandidate(now, a.from, bytes);
      // waitFor reads a string as "not yet": the name travels in an object.
      return name ? { name } : 'no restarted, caught-up candidate yet';
    },
    { what: `a switchover candidate in ${a.scope}`, timeoutMs: 60_000, intervalMs: 500 },
  ).then((c) => c.name);
  const leader = member(s, a.from);
  o.onProgress?.(`switching over ${a.scope} from ${a.from} to ${candidate}`);
  o.log.info({ scope: a.scope, from: a.from, candidate }, 'switchover');
  await call(o, 'POST', `${leader.apiUrl}/switchover`, { leader: a.from, candidate });
  await waitFor(
    async () => {
      const now = await readScope(o, a.scope);
      const m = now.members.find((x) => x.name === candidate);
      return now.leader === candidate && m && isPrimaryRole(m.role) && RUNNING.has(m.state)
        ? true
        : `leader is ${now.leader ?? 'none'}`;
    },
    { what: `${candidate} to lead ${a.scope}`, timeoutMs: 120_000, intervalMs: 500 },
  );
}

async function patchConfig(
  o: PatroniApplyOptions,
  a: Extract<PatroniAction, { kind: 'patch-config' }>,
): Promise<void> {
  const s = await readScope(o, a.scope);
  if (s.paused) throw new ApplyFailedError(`Patroni is paused on ${a.scope}; not patching`);
  // Any member can take the patch (it is a DCS write); the leader's first, then the rest.
  const ordered = [...s.members].sort(
    (x, y) => Number(y.name === s.leader) - Number(x.name === s.leader),
  );
  let last: unknown;
  for (const m of ordered) {
    try {
      await call(o, 'PATCH', `${m.apiUrl}/config`, a.patch);
      return;
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error
    ? last
    : new ApplyFailedError(`no member of ${a.scope} took the patch`);
}

/**
 * Reinitializes a replica whose Postgres does not start. Patroni retries a failed start on
 * every loop, so the member is watched first for `settleMs` (default 20 s): if it runs
 * again meanwhile, nothing is done. The leader is never reinitialized.
 */
async function reinitMember(
  o: PatroniApplyOptions,
  a: Extract<PatroniAction, { kind: 'reinit-member' }>,
): Promise<void> {
  const settle = Date.now() + (o.reinitSettleMs ?? 20_000);
  for (;;) {
    const s = await readScope(o, a.scope);
    const m = member(s, a.member);
    if (s.leader === a.member || isPrimaryRole(m.role)) {
      throw new ApplyFailedError(`${a.member} leads ${a.scope} now; not reinitializing it`);
    }
    if (RUNNING.has(m.state)) {
      o.log.info({ scope: a.scope, member: a.member }, 'member started again; no reinit');
      return;
    }
    if (Date.now() >= settle) {
      o.onProgress?.(`reinitializing ${a.member} of ${a.scope} from ${s.leader}`);
      await call(o, 'POST', `${m.apiUrl}/reinitialize`, { force: true });
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  await memberCaughtUp(o, a.scope, a.member, o.caughtUpBytes ?? 1024 * 1024);
}

export async function applyPatroniAction(a: PatroniAction, o: PatroniApplyOptions): Promise<void> {
  o.log.info(
    { backend: 'patroni', scope: a.scope, action: a.kind, summary: describePatroniAction(a) },
    'patroni action',
  );
  switch (a.kind) {
    case 'patch-config':
      return patchConfig(o, a);
    case 'restart-member':
      return restartMember(o, a);
    case 'switchover':
      return switchover(o, a);
    case 'reinit-member':
      return reinitMember(o, a);
  }
}
