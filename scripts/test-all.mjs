#!/usr/bin/env node
// `npm test`: build, lint, then the vitest projects one after another (unit, integration,
// e2e), stopping at the first that fails. It ends with each step's share of the time and
// one closing line "test: N passed, N failed[, N skipped]" over every vitest project.
// PGMESH_TEST_STEPS=unit,integration runs a subset (build and lint always run).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROJECTS = ['unit', 'integration', 'e2e'];
const wanted = process.env.PGMESH_TEST_STEPS?.split(',').map((s) => s.trim());
const projects = wanted ? PROJECTS.filter((p) => wanted.includes(p)) : PROJECTS;

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const out = mkdtempSync(join(tmpdir(), 'pgmesh-test-'));
const steps = [];
const totals = { passed: 0, failed: 0, skipped: 0 };
let failed = false;
const started = Date.now();

async function step(name, cmd, args, report) {
  const t = Date.now();
  process.stderr.write(`\n== npm test: ${name} ==\n`);
  const code = await run(cmd, args);
  const seconds = (Date.now() - t) / 1000;
  let counts = '';
  if (report) {
    try {
      const r = JSON.parse(readFileSync(report, 'utf8'));
      const p = r.numPassedTests ?? 0;
      // A file that fails outside its tests (a beforeAll, an import) fails no test but
      // skips its tests: count the failed files then, so the closing line never says
      // "0 failed" for a failed run.
      const f =
        (r.numFailedTests ?? 0) || (code !== 0 ? Math.max(1, r.numFailedTestSuites ?? 0) : 0);
      const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      totals.passed += p;
      totals.failed += f;
      totals.skipped += s;
      counts = `${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`;
    } catch {
      counts = 'no report';
    }
  }
  steps.push({ name, seconds, code, counts });
  if (code !== 0) failed = true;
  return code === 0;
}

const ok =
  (await step('build', 'npm', ['run', '--silent', 'build'])) &&
  (await step('lint', 'npm', ['run', '--silent', 'lint']));
if (ok) {
  for (const p of projects) {
    const report = join(out, `${p}.json`);
    const args = ['vitest', 'run', '--project', p, '--reporter=default', '--reporter=json'];
    args.push(`--outputFile.json=${report}`);
    if (!(await step(p, 'npx', args, report))) break;
  }
}
rmSync(out, { recursive: true, force: true });

const total = (Date.now() - started) / 1000;
function fmt(seconds) {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
process.stdout.write('\nnpm test, time per step:\n');
for (const s of steps) {
  const share = ((s.seconds / total) * 100).toFixed(0).padStart(3);
  const state = s.code === 0 ? 'ok' : `FAILED (exit ${s.code})`;
  process.stdout.write(
    `  ${s.name.padEnd(12)} ${fmt(s.seconds).padStart(12)} ${share} %  ${state}${s.counts ? `  ${s.counts}` : ''}\n`,
  );
}
process.stdout.write(`  ${'total'.padEnd(12)} ${fmt(total).padStart(12)}\n`);
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
process.stdout.write(`test: ${totals.passed} passed, ${totals.failed} failed${skipped}\n`);
process.exit(failed ? 1 : 0);
