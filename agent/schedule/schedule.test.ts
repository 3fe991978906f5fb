import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.js';
import { Schedule } from './schedule.js';

let schedule: Schedule | undefined;
afterEach(() => schedule?.stop());

describe('Schedule', () => {
  it('runs the cycle and named jobs from cron expressions, and stops', async () => {
    schedule = new Schedule({ log: silentLogger() });
    let cycles = 0;
    let jobs = 0;
    schedule.cycle('* * * * * *', async () => cycles++);
    schedule.job('maintenance', '0 3 * * *', async () => jobs++);
    expect(() => schedule?.job('bad', 'not cron', async () => undefined)).toThrow(RangeError);
    expect(schedule.list().map((j) => j.name)).toEqual(['cycle', 'maintenance']);
    expect(schedule.list()[1]?.nextRun?.getHours()).toBe(3);
    await schedule.runNow('maintenance');
    expect(jobs).toBe(1);
    const t0 = Date.now();
    while (cycles === 0 && Date.now() - t0 < 2500) await new Promise((r) => setTimeout(r, 50));
    expect(cycles).toBeGreaterThan(0);
    schedule.stop();
    const after = cycles;
    await new Promise((r) => setTimeout(r, 1200));
    expect(cycles).toBe(after);
    expect(schedule.list()).toEqual([]);
  });

  it('logs a failing job instead of throwing', async () => {
    schedule = new Schedule({ log: silentLogger() });
    schedule.job('boom', '0 0 1 1 *', async () => {
      throw new Error('boom');
    });
    await expect(schedule.runNow('boom')).resolves.toBeUndefined();
  });
});
