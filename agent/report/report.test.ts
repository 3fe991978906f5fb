import { describe, expect, it } from 'vitest';
import { renderHtml } from './html.js';
import { MemoryReportStore } from './store.js';
import { REDACTED, scrubSecrets } from './scrub.js';
import { sampleReport } from './sample.js';
import { renderText } from './text.js';

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
