import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { bashCompletion, EXAMPLES } from './help.js';

const here = import.meta.dirname;

describe('CLI help', () => {
  it('every command of the tree has examples', () => {
    const sources = ['main.ts', '../load/cli.ts', '../bench/cli.ts']
      .map((f) => readFileSync(join(here, f), 'utf8'))
      .join('\n');
    const names = [...sources.matchAll(/\.command\('([a-z-]+)/g)].map((m) => m[1] as string);
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(EXAMPLES[n], `examples for ${n}`).toBeDefined();
  });

  it('completion lists the commands and their options', () => {
    const p = new Command('pgmesh');
    p.command('drift').option('--exit-code <bool>').option('-c, --cluster <name>');
    p.command('pause').requiredOption('--reason <text>');
    const script = bashCompletion(p);
    expect(script).toContain('compgen -W "drift pause --version --help"');
    expect(script).toContain('drift) opts="--exit-code --cluster -c --help"');
    expect(script).toContain('pause) opts="--reason --help"');
  });
});
