/** The manifests module: what the rest of the agent imports. */
export { loadManifestSet, parseManifestSetFromFiles, readManifestFiles, isManifestPath } from './load.js';
export type { ManifestFile, ParseOptions } from './load.js';
export { KINDS, findKind } from './kinds.js';
export type { KindDefinition, FieldProblem } from './kinds.js';
export * from './types.js';
