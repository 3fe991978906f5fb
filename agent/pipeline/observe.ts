import type { BackendName } from '../backends/types.js';
import type { BoundBackend } from './types.js';

export type Observation =
  | { backend: BackendName; ok: true; live: unknown }
  | { backend: BackendName; ok: false; error: string };

/** Step 3: live state of every backend; one failing backend does not hide the others. */
export async function observeAll(backends: BoundBackend[]): Promise<Observation[]> {
  return Promise.all(
    backends.map(async (b): Promise<Observation> => {
      try {
        return { backend: b.name, ok: true, live: await b.observe() };
      } catch (err) {
        return { backend: b.name, ok: false, error: (err as Error).message };
      }
    }),
  );
}
