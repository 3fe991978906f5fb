export { bindBackend, type BoundBackend } from './types.js';
export { createCycle, runCycle, type CycleDeps, type CycleRunner } from './cycle.js';
export type { GoodSet, ParseManifestSet } from './validate.js';
export type { HealthCheck } from './verify.js';
