import { ManifestInvalidError, PgmeshError, type ManifestProblem } from '../core/errors.js';
import type { ManifestSet } from '../manifests/types.js';
import type { Snapshot, SourceFile } from '../sources/types.js';

/** Parses and validates a set of files (manifests/load.ts: parseManifestSetFromFiles). */
export type ParseManifestSet = (files: SourceFile[]) => ManifestSet | Promise<ManifestSet>;

export interface GoodSet {
  revision: string;
  set: ManifestSet;
}

export type Validation =
  | { ok: true; good: GoodSet }
  | { ok: false; problems: ManifestProblem[]; lastGood: GoodSet | null };

/**
 * Step 2: the whole set is valid or the whole set is rejected. On rejection the caller keeps
 * the last good set; the problems (file, field, reason) go into the report.
 */
export async function validateSnapshot(
  snapshot: Snapshot,
  parse: ParseManifestSet,
  lastGood: GoodSet | null,
): Promise<Validation> {
  try {
    const set = await parse(snapshot.files);
    return { ok: true, good: { revision: snapshot.revision, set } };
  } catch (err) {
    if (err instanceof ManifestInvalidError) {
      return { ok: false, problems: [...err.problems], lastGood };
    }
    if (err instanceof PgmeshError) {
      return { ok: false, problems: [{ file: '', field: '', reason: err.message }], lastGood };
    }
    throw err;
  }
}
