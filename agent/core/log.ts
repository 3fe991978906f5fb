import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that could ever carry a secret are censored even if a caller slips one into a
 * log field by mistake; the rule stays: never log a secret.
 */
const REDACT = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'pgmesh',
      level: options.level ?? process.env.PGMESH_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: undefined,
    },
    pino.destination(2),
  );
}

/** A logger that drops everything: for tests and for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
