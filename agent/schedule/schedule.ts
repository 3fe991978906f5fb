import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../core/log.js';

export interface ScheduleOptions {
  log: Logger;
  /** IANA time zone for the expressions (default: the process's). */
  timezone?: string;
}

export interface JobInfo {
  name: string;
  expression: string;
  nextRun: Date | null;
  running: boolean;
}

/** The reserved name of the periodic full cycle. */
export const CYCLE_JOB = 'cycle';

/**
 * Runs named jobs from cron expressions (node-cron, with seconds when six fields are
 * given). A job never overlaps itself: a tick that finds the previous run still busy is
 * skipped. Errors are logged, never thrown into the timer.
 */
export class Schedule {
  readonly #o: ScheduleOptions;
  readonly #jobs = new Map<string, { task: ScheduledTask; expression: string }>();

  constructor(options: ScheduleOptions) {
    this.#o = options;
  }

  /** The periodic full reconcile cycle. */
  cycle(expression: string, run: () => Promise<unknown>): void {
    this.job(CYCLE_JOB, expression, run);
  }

  /** Adds or replaces a named job. Throws on an invalid expression. */
  job(name: string, expression: string, run: () => Promise<unknown>): void {
    if (!cron.validate(expression)) {
      throw new RangeError(`invalid cron expression for job ${name}: ${expression}`);
    }
    this.remove(name);
    const log = this.#o.log;
    const task = cron.schedule(
      expression,
      async () => {
        const t0 = Date.now();
        try {
          await run();
          log.debug({ job: name, ms: Date.now() - t0 }, 'scheduled job finished');
        } catch (err) {
          log.error({ job: name, err: (err as Error).message }, 'scheduled job failed');
        }
      },
      {
        name: `pgmesh-${name}`,
        noOverlap: true,
        ...(this.#o.timezone ? { timezone: this.#o.timezone } : {}),
      },
    );
    this.#jobs.set(name, { task, expression });
  }

  remove(name: string): boolean {
    const job = this.#jobs.get(name);
    if (!job) return false;
    void job.task.destroy();
    this.#jobs.delete(name);
    return true;
  }

  /** Runs a job now, outside its schedule. */
  async runNow(name: string): Promise<void> {
    const job = this.#jobs.get(name);
    if (!job) throw new RangeError(`no scheduled job named ${name}`);
    await job.task.execute();
  }

  list(): JobInfo[] {
    return [...this.#jobs].map(([name, j]) => ({
      name,
      expression: j.expression,
      nextRun: j.task.getNextRun(),
      running: j.task.isBusy(),
    }));
  }

  stop(): void {
    for (const name of [...this.#jobs.keys()]) this.remove(name);
  }
}
