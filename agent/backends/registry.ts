/**
 * The list of backends the pipeline runs, in apply order across backends
 * (etcd → Swarm services → Patroni config → engine metadata → data moves → indexes).
 * The pipeline imports this file, never a backend's insides.
 */
import { swarmBackend } from './swarm/index.js';

export const backends = [swarmBackend] as const;
