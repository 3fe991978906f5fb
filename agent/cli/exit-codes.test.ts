import { describe, expect, it } from 'vitest';
import { driftExitCode } from './exit-codes.js';

describe('drift exit codes', () => {
  it('0 in sync, 2 drifted/acting/blocked, 1 failed/rejected', () => {
    expect(driftExitCode('in-sync')).toBe(0);
    expect(driftExitCode(undefined)).toBe(0);
    for (const s of ['drifted', 'acting', 'blocked'] as const) expect(driftExitCode(s)).toBe(2);
    for (const s of ['failed', 'rejected'] as const) expect(driftExitCode(s)).toBe(1);
  });
});
