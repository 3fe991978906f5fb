import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package's version (dist/agent/cli/ → the repository root's package.json). */
export function cliVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Whether the command line asked for JSON output (-o json, --output json, --output=json). */
export function wantsJson(argv: string[]): boolean {
  return argv.some(
    (a, i) =>
      a === '--output=json' ||
      a === '-ojson' ||
      ((a === '-o' || a === '--output') && argv[i + 1] === 'json'),
  );
}
