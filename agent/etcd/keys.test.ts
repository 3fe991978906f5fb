import { describe, expect, it } from 'vitest';
import * as k from './keys.js';

describe('etcd key layout', () => {
  it('keeps everything under /pgmesh/<cluster>/', () => {
    expect(k.pauseKey('pgm')).toBe('/pgmesh/pgm/pause');
    expect(k.leaderKey('pgm')).toBe('/pgmesh/pgm/leader');
    expect(k.reportKey('pgm', 42)).toBe('/pgmesh/pgm/reports/000000000042');
    expect(k.parseReportSeq('pgm', k.reportKey('pgm', 42))).toBe(42);
    expect(k.journalKey('pgm', 'swarm:svc/a b')).toBe('/pgmesh/pgm/journal/swarm%3Asvc%2Fa%20b');
    expect(k.parseJournalKey('pgm', k.journalKey('pgm', 'swarm:svc/a b'))).toBe('swarm:svc/a b');
    expect(() => k.pauseKey('a/b')).toThrow(RangeError);
  });
});
