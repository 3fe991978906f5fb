import type { Etcd3, Lease, Watcher } from 'etcd3';
import type { Logger } from '../core/log.js';
import { watchKey } from '../etcd/client.js';
import { leaderKey } from '../etcd/keys.js';

export interface LeaderElectionOptions {
  etcd: Etcd3;
  cluster: string;
  /** This replica's name, written into the leader key (e.g. the task's hostname). */
  id: string;
  /** Lease TTL in seconds (default 10). A dead leader is replaced within this time. */
  ttlSeconds?: number;
  log: Logger;
}

export type LeadershipListener = (leader: boolean) => void;

/**
 * Leader election over one etcd lease and a create-if-absent transaction on
 * `/pgmesh/<cluster>/leader`. The holder steps down on its own as soon as it cannot prove
 * its lease is alive (no successful keepalive for 3/4 of the TTL), before etcd could give
 * the key to another replica: at no time do two replicas believe they lead.
 */
export class LeaderElection {
  readonly #o: Required<LeaderElectionOptions>;
  readonly #listeners = new Set<LeadershipListener>();
  #leader = false;
  #running = false;
  #lease: Lease | null = null;
  #watcher: Watcher | null = null;
  #term: AbortController = abortedController();
  #renewedAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #renewing = false;
  #attempt: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectionOptions) {
    this.#o = { ttlSeconds: 10, ...options };
  }

  isLeader(): boolean {
    return this.#leader;
  }

  /** Aborted the moment this replica stops leading; a fresh one per term. */
  signal(): AbortSignal {
    return this.#term.signal;
  }

  onChange(cb: LeadershipListener): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Who leads now, as etcd says (null if nobody). */
  async currentLeader(): Promise<string | null> {
    return this.#o.etcd.get(leaderKey(this.#o.cluster)).string();
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const key = leaderKey(this.#o.cluster);
    this.#watcher = await watchKey(
      this.#o.etcd,
      key,
      {
        onDelete: () => {
          if (this.#leader) this.#stepDown('leader key deleted');
          this.#campaignSoon();
        },
        onPut: (value) => {
          if (this.#leader && value !== this.#o.id) this.#stepDown('leader key taken');
        },
        onResync: () => this.#campaignSoon(),
      },
      this.#o.log,
    );
    // Safety net for a missed watch event, and the clock for the local expiry check.
    const tick = Math.max(100, (this.#o.ttlSeconds * 1000) / 10);
    this.#timer = setInterval(() => {
      if (this.#leader && Date.now() - this.#renewedAt > this.#o.ttlSeconds * 750) {
        this.#stepDown('lease not renewed in time');
      }
      this.#keepalive();
      if (!this.#leader) this.#campaignSoon();
    }, tick);
    this.#campaignSoon();
    await this.#attempt;
  }

  /** Resigns: the key is removed at once so another replica takes over without waiting. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#attempt;
    const lease = this.#lease;
    this.#lease = null;
    if (this.#leader) this.#stepDown('stopped');
    await this.#watcher?.cancel().catch(() => undefined);
    this.#watcher = null;
    await lease?.revoke().catch(() => undefined);
  }

  #campaignSoon(): void {
    this.#attempt = this.#attempt.then(() => this.#campaign());
  }

  async #campaign(): Promise<void> {
    if (!this.#running || this.#leader) return;
    const { etcd, log, cluster, id } = this.#o;
    const key = leaderKey(cluster);
    try {
      // Followers look before they leap: a lease is granted only when the seat is free.
      if ((await etcd.get(key).exists()) || !this.#running) return;
      const lease = this.#newLease();
      const grantedAt = Date.now();
      const leaseId = await lease.grant();
      const res = await etcd
        .if(key, 'Create', '==', 0)
        .then(etcd.put(key).value(id).lease(leaseId))
        .commit();
      if (res.succeeded && this.#running && this.#lease === lease) {
        this.#renewedAt = grantedAt;
        this.#leader = true;
        this.#term = new AbortController();
        log.info({ cluster, id, ttl: this.#o.ttlSeconds }, 'leadership gained');
        this.#emit(true);
      } else {
        this.#lease = null;
        await lease.revoke().catch(() => undefined);
      }
    } catch (err) {
      log.warn({ cluster, id, err: (err as Error).message }, 'leader campaign failed');
      this.#dropLease();
    }
  }

  #newLease(): Lease {
    // Keepalives are sent by this class, one short call each (keepaliveOnce), not over
    // etcd3's long-lived stream: a stream can outlive its client's close(), and then a
    // replica that gave up its connection would keep its lease (and leadership) alive.
    const lease = this.#o.etcd.lease(this.#o.ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', (err) => {
      this.#o.log.warn({ cluster: this.#o.cluster, err: err.message }, 'leader lease lost');
      if (this.#lease === lease) this.#dropLease();
    });
    this.#lease = lease;
    return lease;
  }

  #keepalive(): void {
    const lease = this.#lease;
    if (!lease || !this.#leader || this.#renewing) return;
    const firedAt = Date.now();
    if (firedAt - this.#renewedAt < (this.#o.ttlSeconds * 1000) / 3) return;
    this.#renewing = true;
    lease
      .keepaliveOnce({ deadline: new Date(firedAt + (this.#o.ttlSeconds * 1000) / 2) })
      .then(
        // The lease's expiry counts from when etcd received the keepalive: after `firedAt`.
        () => {
          if (this.#lease === lease) this.#renewedAt = firedAt;
        },
        (err: Error) =>
          this.#o.log.warn(
            { cluster: this.#o.cluster, err: err.message },
            'leader keepalive failed',
          ),
      )
      .finally(() => (this.#renewing = false));
  }

  #dropLease(): void {
    if (this.#leader) this.#stepDown('lease lost');
    this.#lease?.release();
    this.#lease = null;
  }

  #stepDown(why: string): void {
    if (!this.#leader) return;
    this.#leader = false;
    this.#term.abort(new Error(`leadership lost: ${why}`));
    this.#o.log.warn({ cluster: this.#o.cluster, id: this.#o.id, why }, 'leadership lost');
    // A lease we can no longer prove alive is not reused for the next campaign.
    const lease = this.#lease;
    this.#lease = null;
    lease?.release();
    this.#emit(false);
  }

  #emit(leader: boolean): void {
    for (const cb of this.#listeners) {
      try {
        cb(leader);
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message }, 'leadership listener failed');
      }
    }
  }
}

function abortedController(): AbortController {
  const c = new AbortController();
  c.abort(new Error('not leading'));
  return c;
}
