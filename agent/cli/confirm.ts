import { createInterface } from 'node:readline/promises';
import { PgmeshError } from '../core/errors.js';

/**
 * Asks on the terminal for `expected` to be typed; without a terminal (a script, CI)
 * it refuses rather than guess: the caller says --yes when it means it.
 */
export async function confirm(question: string, expected: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new PgmeshError(
      'PGMESH_CONFIRMATION_REQUIRED',
      'refusing to delete data without confirmation: no terminal to ask on; pass --yes',
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(question)).trim();
    if (answer !== expected)
      throw new PgmeshError('PGMESH_CONFIRMATION_REQUIRED', 'not confirmed; nothing was removed');
  } finally {
    rl.close();
  }
}
