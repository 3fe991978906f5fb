/**
 * Pure limits of one agent: a token bucket for the call rate and size checks for what a
 * tool writes. The database enforces namespaces and privileges; these keep one agent from
 * flooding the cluster or storing what no one meant to allow.
 */
import { McpInputError, McpRateLimitedError } from '../core/errors.js';

export interface RateLimiter {
  /** Takes one call's token or throws McpRateLimitedError (saying when to retry). */
  take(): void;
}

/** `rate` tokens a second, at most `burst` saved up; `now` in ms (tests pass their own). */
export function tokenBucket(
  rate: number,
  burst: number,
  now: () => number = () => performance.now(),
): RateLimiter {
  let tokens = burst;
  let at = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * rate);
      at = t;
      if (tokens >= 1) {
        tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - tokens) / rate) * 1000);
      throw new McpRateLimitedError(
        `more than ${rate} calls per second (burst ${burst}); retry in ${waitMs} ms`,
      );
    },
  };
}

export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** A text field within `max` UTF-8 bytes. */
export function checkText(field: string, value: string | undefined | null, max: number): void {
  if (value === undefined || value === null) return;
  const n = utf8Bytes(value);
  if (n > max) throw new McpInputError(`${field} is ${n} bytes; the limit is ${max}`);
}

/** A JSON field within `max` bytes once serialised. */
export function checkJson(field: string, value: unknown, max: number): void {
  if (value === undefined || value === null) return;
  const n = utf8Bytes(JSON.stringify(value));
  if (n > max) throw new McpInputError(`${field} is ${n} bytes as JSON; the limit is ${max}`);
}

/** An embedding of exactly the column's dimension, finite numbers only. */
export function checkEmbedding(
  field: string,
  value: readonly number[] | undefined | null,
  dims: number,
  table: string,
): void {
  if (value === undefined || value === null) return;
  if (value.length !== dims) {
    throw new McpInputError(
      `${field} has ${value.length} dimensions; ${table}.embedding is vector(${dims})`,
    );
  }
  if (!value.every((x) => Number.isFinite(x))) {
    throw new McpInputError(`${field} holds a value that is not a finite number`);
  }
}

/** pgvector's text form of an embedding, sent as a parameter. */
export function vectorLiteral(value: readonly number[]): string {
  return `[${value.join(',')}]`;
}
