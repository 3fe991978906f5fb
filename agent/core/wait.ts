import { TimeoutError } from './errors.js';

export interface WaitOptions {
  /** What is awaited, for the error message. */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Called with the last failure reason while waiting, for progress output. */
  onPending?: (reason: string) => void;
}

/**
 * Polls `check` until it returns `true` (or a value that is not `false`/`undefined`).
 * `check` may return a string: the reason it is not yet done, reported on timeout.
 */
export async function waitFor<T>(
  check: () => Promise<T | false | string | undefined>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 1000;
  let last = 'not checked yet';
  for (;;) {
    try {
      const result = await check();
      if (result !== false && result !== undefined && typeof result !== 'string') return result;
      if (typeof result === 'string') last = result;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    options.onPending?.(last);
    if (Date.now() >= deadline) {
      throw new TimeoutError(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}: ${last}`,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
