import { describePause } from '../gate/gate.js';
import type { DriftReport } from './model.js';
import { describeProgress } from './progress.js';

export function escapeHtml(value: unknown): string {
  const s = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  return (s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const COLORS: Record<string, string> = {
  'in-sync': '#1a7f37',
  drifted: '#9a6700',
  acting: '#0969da',
  blocked: '#bc4c00',
  failed: '#cf222e',
  rejected: '#cf222e',
};

function badge(state: string): string {
  return `<span class="badge" style="background:${COLORS[state] ?? '#57606a'}">${escapeHtml(state)}</span>`;
}

function rows(cells: string[][]): string {
  return cells.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
}

/** A self-contained page (no scripts, no external assets) for GET /drift. */
export function renderHtml(report: DriftReport | null, history: DriftReport[] = []): string {
  const body = report ? reportBody(report, history) : '<p>No cycle has run yet.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pgmesh drift${report ? ` — ${escapeHtml(report.cluster)} ${escapeHtml(report.status)}` : ''}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-family:ui-monospace,monospace}
.badge{color:#fff;border-radius:1em;padding:.1em .7em;font-weight:600}
.banner{padding:.8em 1em;border-radius:.4em;margin:1em 0;background:#fff1e5;border:1px solid #bc4c00}
.err{background:#ffebe9;border-color:#cf222e}
</style></head><body>
<h1>pgmesh drift report</h1>
${body}
</body></html>
`;
}

function reportBody(r: DriftReport, history: DriftReport[]): string {
  const parts: string[] = [];
  parts.push(
    `<p>Cluster <code>${escapeHtml(r.cluster)}</code> ${badge(r.status)} — report #${r.seq}, ` +
      `${escapeHtml(r.finishedAt)}, ${r.durationMs} ms, by <code>${escapeHtml(r.agent)}</code> ` +
      `(${r.leader ? 'leader' : 'observer'})</p>`,
    `<p>Source: ${escapeHtml(r.source.kind)}${r.source.ref ? ` <code>${escapeHtml(r.source.ref)}</code>` : ''}, ` +
      `revision <code>${escapeHtml(r.source.revision ?? '-')}</code>, acted on <code>${escapeHtml(r.source.actedOn ?? '-')}</code></p>`,
  );
  if (r.paused)
    parts.push(`<div class="banner"><b>Paused.</b> ${escapeHtml(describePause(r.paused))}</div>`);
  if (!r.validation.ok) {
    parts.push(
      '<div class="banner err"><b>Manifest set rejected.</b> Nothing was applied.</div>',
      '<table><tr><th>File</th><th>Field</th><th>Reason</th></tr>',
      rows(
        r.validation.problems.map((p) => [
          `<code>${escapeHtml(p.file)}</code>`,
          `<code>${escapeHtml(p.field || '(document)')}</code>`,
          escapeHtml(p.reason),
        ]),
      ),
      '</table>',
    );
  }
  for (const b of r.backends) {
    parts.push(`<h2>${escapeHtml(b.backend)} ${badge(b.state)}</h2>`);
    if (b.error) parts.push(`<div class="banner err">${escapeHtml(b.error)}</div>`);
    const itemRows = b.items.flatMap((i) =>
      (i.differences.length ? i.differences : [undefined]).map((d) => [
        `<code>${escapeHtml(i.resource)}</code>`,
        badge(i.state),
        d ? `<code>${escapeHtml(d.field)}</code>` : '',
        d ? `<code>${escapeHtml(d.desired)}</code>` : '',
        d ? `<code>${escapeHtml(d.live)}</code>` : '',
        escapeHtml(i.reason ?? ''),
      ]),
    );
    parts.push(
      itemRows.length
        ? `<table><tr><th>Resource</th><th>State</th><th>Field</th><th>Desired</th><th>Live</th><th>Reason</th></tr>${rows(itemRows)}</table>`
        : '<p>No resources reported.</p>',
    );
    for (const i of b.items) {
      if (!i.progress) continue;
      const p = i.progress;
      const pct = p.total > 0 ? Math.min(100, Math.round((p.done * 100) / p.total)) : 0;
      parts.push(
        `<p><code>${escapeHtml(i.resource)}</code> ${badge(i.state)} ` +
          `<progress max="${p.total}" value="${p.done}">${pct}%</progress> ` +
          `${escapeHtml(describeProgress(p))}</p>`,
      );
    }
    if (b.actions.length) {
      parts.push(
        '<table><tr><th>Action</th><th>Risk</th><th>Result</th><th>ms</th><th>Reason</th></tr>',
        rows(
          b.actions.map((a) => [
            escapeHtml(a.summary),
            escapeHtml(a.risk),
            escapeHtml(a.result),
            escapeHtml(a.ms ?? ''),
            escapeHtml(a.reason ?? ''),
          ]),
        ),
        '</table>',
      );
    }
  }
  parts.push(
    '<h2>Steps</h2><table><tr><th>Step</th><th>ms</th><th>OK</th><th>Error</th></tr>',
    rows(
      r.steps.map((s) => [
        escapeHtml(s.step),
        String(s.ms),
        s.ok ? 'yes' : 'no',
        escapeHtml(s.error ?? ''),
      ]),
    ),
    '</table>',
  );
  for (const e of r.errors) parts.push(`<div class="banner err">${escapeHtml(e)}</div>`);
  if (history.length > 1) {
    parts.push(
      '<h2>Recent cycles</h2><table><tr><th>#</th><th>Finished</th><th>Status</th><th>Revision</th><th>ms</th></tr>',
      rows(
        history.map((h) => [
          String(h.seq),
          escapeHtml(h.finishedAt),
          badge(h.status),
          `<code>${escapeHtml((h.source.actedOn ?? '-').slice(0, 12))}</code>`,
          String(h.durationMs),
        ]),
      ),
      '</table>',
    );
  }
  return parts.join('\n');
}
