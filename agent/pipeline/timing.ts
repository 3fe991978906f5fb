import type { StepName, StepTiming } from '../report/model.js';

/** Runs one step and records its timing, also when it throws. */
export async function timed<T>(
  steps: StepTiming[],
  step: StepName,
  fn: () => Promise<T> | T,
): Promise<T> {
  const started = new Date();
  try {
    const value = await fn();
    steps.push({
      step,
      startedAt: started.toISOString(),
      ms: Date.now() - started.getTime(),
      ok: true,
    });
    return value;
  } catch (err) {
    steps.push({
      step,
      startedAt: started.toISOString(),
      ms: Date.now() - started.getTime(),
      ok: false,
      error: err instanceof Error ? err.message : String(err),
    });
    throw err;
  }
}
