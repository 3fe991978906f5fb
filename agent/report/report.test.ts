import { describe, expect, it } from 'vitest';
import { renderHtml } from './html.js';
import {
  describeProgress,
  estimateEtaMs,
  formatBytes,
  formatDuration,
  progressLines,
} from './progress.js';
import { MemoryReportStore } from './store.js';
import { REDACTED, scrubSecrets } from './scrub.js';
import { sampleReport } from './sample.js';
import { renderText, summaryLine } from './text.js';

describe('scrubSecrets', () => {
  it('replaces values of secret-named fields and differences, deep, without touching the input', () => {
    const input = {
      a: { password: 'hunter2', nested: [{ apiToken: 't0k' }], ok: 'x' },
      differences: [{ field: 'env.POSTGRES_PASSWORD', desired: 's1', live: 's2' }],
      paused: null,
    };
    const out = scrubSecrets(input);
    expect(out.a.password).toBe(REDACTED);
    expect(out.a.nested[0]?.apiToken).toBe(REDACTED);
    expect(out.a.ok).toBe('x');
    expect(out.differences[0]).toEqual({
      field: 'env.POSTGRES_PASSWORD',
      desired: REDACTED,
      live: REDACTED,
    });
    expect(input.a.password).toBe('hunter2');
    expect(JSON.stringify(out)).not.toMatch(/hunter2|t0k|s1|s2/);
  });
});

describe('renderers', () => {
  it('renders a text table with the pause, the commit and each difference', () => {
    const text = renderText(sampleReport());
    expect(text).toContain('status BLOCKED');
    expect(text).toContain('PAUSED: paused by alice since 2025-01-01T00:00:00.000Z: disk <full>');
    expect(text).toMatch(/swarm\s+service\/pgm-w1\s+blocked\s+replicas\s+3\s+2/);
    expect(text).toContain('abc123');
  });

  it('puts a summary line first, items needing attention before those in sync, which collapse', () => {
    const base = sampleReport();
    const b0 = base.backends[0]!;
    const r = sampleReport({
      backends: [
        {
          ...b0,
          items: [
            { backend: 'swarm', resource: 'service/a', state: 'in-sync', differences: [] },
            { backend: 'swarm', resource: 'service/b', state: 'in-sync', differences: [] },
            { backend: 'swarm', resource: 'service/c', state: 'blocked', differences: [] },
            { backend: 'swarm', resource: 'service/d', state: 'failed', differences: [] },
          ],
        },
      ],
    });
    const text = renderText(r);
    expect(summaryLine(r)).toBe('2 in sync, 1 failed, 1 blocked');
    expect(text).toContain('items: 2 in sync, 1 failed, 1 blocked');
    expect(text.indexOf('service/d')).toBeLessThan(text.indexOf('service/c'));
    expect(text).not.toContain('service/a');
    expect(text).toMatch(/swarm\s+\(2 more\)\s+in-sync/);
  });

  it('lists validation problems when the set was rejected', () => {
    const r = sampleReport({
      status: 'rejected',
      paused: null,
      validation: {
        ok: false,
        problems: [{ file: 'cluster.yaml', field: '/spec/x', reason: 'bad' }],
      },
    });
    expect(renderText(r)).toMatch(/cluster\.yaml\s+\/spec\/x\s+bad/);
    expect(renderHtml(r)).toContain('Manifest set rejected');
  });

  it('renders a self-contained, escaped HTML page', () => {
    const html = renderHtml(sampleReport(), [sampleReport(), sampleReport({ seq: 6 })]);
    expect(html).toContain('disk &lt;full&gt;');
    expect(html).not.toContain('disk <full>');
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html).toContain('Recent cycles');
    expect(renderHtml(null)).toContain('No cycle has run yet');
  });
});

describe('MemoryReportStore', () => {
  it('keeps the newest N, numbered, scrubbed', async () => {
    const store = new MemoryReportStore(3);
    for (let i = 0; i < 5; i++) {
      await store.save(sampleReport({ errors: [], agent: `a${i}`, paused: null }));
    }
    const h = await store.history();
    expect(h.map((r) => r.seq)).toEqual([5, 4, 3]);
    expect((await store.latest())?.agent).toBe('a4');
  });
});

describe('progress', () => {
  it('estimates the time left from the run’s rate, by bytes or else by steps', () => {
    expect(
      estimateEtaMs({ elapsedMs: 10_000, done: 1, total: 4, bytesDone: 100, bytesTotal: 400 }),
    ).toBe(30_000);
    expect(
      estimateEtaMs({ elapsedMs: 10_000, done: 2, total: 4, bytesDone: 0, bytesTotal: 0 }),
    ).toBe(10_000);
    expect(estimateEtaMs({ elapsedMs: 10_000, done: 4, total: 4 })).toBe(0);
    expect(estimateEtaMs({ elapsedMs: 0, done: 0, total: 4 })).toBeUndefined();
    expect(
      estimateEtaMs({ elapsedMs: 5_000, done: 0, total: 4, bytesDone: 0, bytesTotal: 400 }),
    ).toBeUndefined();
  });

  it('formats bytes, durations and one progress line', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatDuration(45_400)).toBe('45 s');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
    expect(
      describeProgress({
        unit: 'shard moves',
        done: 2,
        total: 4,
        bytesDone: 1024 * 1024,
        bytesTotal: 4 * 1024 * 1024,
        etaMs: 40_000,
        current: 'copying: shard 3 of memory.memory_entries w1 → w3',
      }),
    ).toBe(
      '2/4 shard moves, 1.0 MiB/4.0 MiB (25%), ETA 40 s — copying: shard 3 of memory.memory_entries w1 → w3',
    );
    expect(
      describeProgress({
        unit: 'shard moves',
        done: 4,
        total: 4,
        finishedAt: '2025-01-01T00:01:00.000Z',
      }),
    ).toBe('4/4 shard moves, finished 2025-01-01T00:01:00.000Z');
  });

  it('shows a drift item’s progress in the text and HTML reports', () => {
    const r = sampleReport();
    r.backends.push({
      backend: 'shards',
      state: 'acting',
      items: [
        {
          backend: 'shards',
          resource: 'rebalance',
          state: 'acting',
          differences: [],
          progress: { unit: 'shard moves', done: 1, total: 3, etaMs: 60_000 },
        },
      ],
      actions: [],
      refusals: [],
    });
    expect(renderText(r)).toMatch(
      /progress:\n.*\n.*\nshards\s+rebalance\s+acting\s+1\/3 shard moves, ETA 1 min/,
    );
    expect(renderHtml(r)).toContain('<progress max="3" value="1">33%</progress>');
    expect(progressLines(r)).toEqual(['shards rebalance (acting): 1/3 shard moves, ETA 1 min']);
    expect(progressLines(sampleReport())).toEqual([]);
  });
});
