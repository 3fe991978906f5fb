import type { Snapshot, Source } from '../sources/types.js';

/** Step 1: read the desired state's files and the revision they are at. */
export async function readSource(source: Source): Promise<Snapshot> {
  return source.read();
}
