import type { PatroniParameterValue } from '../../manifests/types.js';

/** The Patroni fields of the DCS config a PatroniConfig manages (Patroni's own names). */
export const MANAGED_FIELDS = [
  'ttl',
  'loop_wait',
  'retry_timeout',
  'synchronous_mode',
  'maximum_lag_on_failover',
] as const;
export type ManagedField = (typeof MANAGED_FIELDS)[number];

/** What the manifests want for one scope: only the fields they write. */
export interface DesiredScope {
  scope: string;
  /** The document that declares it, for reports. */
  source: string;
  fields: Partial<Record<ManagedField, number | boolean>>;
  parameters: Record<string, PatroniParameterValue>;
}

export interface DesiredPatroni {
  scopes: DesiredScope[];
}

export interface PendingChange {
  old: string | undefined;
  new: string | undefined;
}

/** One member as its own Patroni last wrote it into etcd (`<ns><scope>/members/<name>`). */
export interface LiveMember {
  name: string;
  /** `primary`, `replica`, `sync_standby`, ... (Patroni 4 writes `primary`; older `master`). */
  role: string;
  state: string;
  apiUrl: string;
  pendingRestart: boolean;
  /** Patroni 4: each parameter that waits for a restart, with its running and new value. */
  pendingReasons: Record<string, PendingChange>;
  lagBytes: number | undefined;
  /** A replica's WAL receiver state (`streaming` when it follows the primary). */
  replicationState: string | undefined;
}

export interface LiveScope {
  scope: string;
  /** The DCS config (`<ns><scope>/config`), or null before the group bootstrapped. */
  config: Record<string, unknown> | null;
  /** etcd's mod revision of the config key: every PATCH changes it (idempotency keys). */
  configRevision: string;
  leader: string | undefined;
  /** Patroni's own maintenance mode (`pause: true` in the DCS config). */
  paused: boolean;
  /** The synchronous standby Patroni named in `<ns><scope>/sync`. */
  syncStandby: string | undefined;
  members: LiveMember[];
}

export interface LivePatroni {
  scopes: LiveScope[];
}

export interface FieldChange {
  field: string;
  desired: unknown;
  live: unknown;
}

export type PatroniAction =
  | {
      kind: 'patch-config';
      scope: string;
      /** A JSON merge patch for Patroni's PATCH /config. */
      patch: Record<string, unknown>;
      changes: FieldChange[];
    }
  | {
      kind: 'restart-member';
      scope: string;
      member: string;
      /** The role the member must have when the restart starts; otherwise the step fails. */
      expectRole: 'primary' | 'replica';
      /** Parameters whose change makes the restart necessary. */
      parameters: string[];
      /** The restart was planned with the config patch: Patroni may not have flagged it yet. */
      afterPatch: boolean;
    }
  | {
      kind: 'switchover';
      scope: string;
      /** The leader at plan time; if someone else leads by then, the step is not needed. */
      from: string;
    }
  | {
      /**
       * A replica whose Postgres does not start (e.g. WAL of two timelines mixed after
       * repeated failovers and pg_rewind): its data directory is cloned again from the
       * leader (Patroni's POST /reinitialize). Never the leader; the replica is down
       * anyway, so nothing that serves is touched.
       */
      kind: 'reinit-member';
      scope: string;
      member: string;
      /** What Patroni reported, for the report. */
      state: string;
    };

export interface PatroniPlanResult {
  actions: PatroniAction[];
  /** Per scope: why the scope is blocked or what is deferred, for the drift report. */
  notes: Array<{ scope: string; state: 'blocked' | 'deferred'; reason: string }>;
}
