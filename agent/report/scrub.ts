/**
 * A safety net, not the rule: backends never put a secret into a report or a log. Should
 * one slip in anyway under a telling name, it is replaced before the report is stored,
 * served or printed.
 */

export const REDACTED = '[redacted]';

const SECRET_NAME =
  /(pass(word|wd|phrase)?|token|secret|credential|api[-_]?key|private[-_]?key|authorization|cookie)/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Returns a deep copy with the value of every property named like a secret replaced, and,
 * for a `{ field, desired, live }` difference whose `field` names a secret, both values too.
 */
export function scrubSecrets<T>(value: T): T {
  return scrub(value, new WeakSet()) as T;
}

function scrub(value: unknown, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, seen));
  const src = value as Record<string, unknown>;
  const secretField = typeof src.field === 'string' && isSecretName(src.field);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (isSecretName(k) && v !== null && v !== undefined && typeof v !== 'boolean') {
      out[k] = REDACTED;
    } else if (secretField && (k === 'desired' || k === 'live') && v !== undefined && v !== null) {
      out[k] = REDACTED;
    } else {
      out[k] = scrub(v, seen);
    }
  }
  return out;
}
