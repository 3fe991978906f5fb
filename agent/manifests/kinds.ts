/**
 * The registry of manifest kinds. A new kind is one schema file in schemas/ and one entry
 * here; the loader, the validator and the docs generator read only this list.
 */
import clusterSchema from '../../schemas/cluster.schema.json' with { type: 'json' };
import { checkCluster } from './check-cluster.js';
import type { Manifest } from './types.js';

/** A finding inside one document; the loader adds the file. */
export interface FieldProblem {
  /** JSON pointer into the document, e.g. `/spec/workerGroups/1/name`; '' is the whole document. */
  field: string;
  reason: string;
}

export interface KindDefinition<M extends Manifest = Manifest> {
  kind: M['kind'];
  /** The JSON Schema (draft 2020-12) of the whole document; defaults are filled from it. */
  schema: object;
  /** How many documents of this kind one manifest set holds. */
  cardinality: 'exactly-one' | 'any';
  /**
   * Checks JSON Schema cannot express, run only on a document that passed its schema (so
   * defaults are filled and the shape is M). `documents` is every schema-valid document of
   * the set, for checks that look across kinds (a table's worker group must exist, ...).
   */
  check?(manifest: M, documents: readonly Manifest[]): FieldProblem[];
}

export const KINDS: readonly KindDefinition[] = [
  { kind: 'Cluster', schema: clusterSchema, cardinality: 'exactly-one', check: checkCluster },
];

export function findKind(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}
