import type { FieldChange, FileRef, MountSpec, PortSpec, ServiceShape } from './types.js';

function byKey<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => key(a).localeCompare(key(b));
}

/**
 * Puts a shape in a canonical form (sorted lists, no empty noise), so that a desired and
 * a live shape compare equal exactly when Swarm would run the same thing.
 */
export function normalizeShape(s: ServiceShape): ServiceShape {
  return {
    ...s,
    env: [...s.env].sort(),
    mounts: [...s.mounts].sort(byKey((m: MountSpec) => m.target)),
    configs: [...s.configs].sort(byKey((c: FileRef) => c.target)),
    secrets: [...s.secrets].sort(byKey((c: FileRef) => c.target)),
    networks: [...s.networks].sort(),
    ports: [...s.ports].sort(byKey((p: PortSpec) => `${p.target}/${p.protocol}`)),
    constraints: [...s.constraints].sort(),
    dnsOptions: [...s.dnsOptions].sort(),
    labels: Object.fromEntries(Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b))),
  };
}

const FIELDS: Array<keyof ServiceShape> = [
  'image',
  'replicas',
  'command',
  'args',
  'env',
  'hostname',
  'mounts',
  'configs',
  'secrets',
  'networks',
  'ports',
  'constraints',
  'maxReplicasPerNode',
  'labels',
  'memoryLimitBytes',
  'dnsOptions',
];

/** Every field whose desired value differs from the live one, in a fixed order. */
export function diffShapes(desired: ServiceShape, live: ServiceShape): FieldChange[] {
  const d = normalizeShape(desired);
  const l = normalizeShape(live);
  const changes: FieldChange[] = [];
  for (const field of FIELDS) {
    // Mode-only differences on files are noise; compare what the files are and where.
    if (JSON.stringify(stripModes(d[field])) !== JSON.stringify(stripModes(l[field]))) {
      changes.push({ field, desired: d[field], live: l[field] });
    }
  }
  return changes;
}

function stripModes(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((v: unknown) =>
    v && typeof v === 'object' && 'mode' in v ? { ...v, mode: undefined } : v,
  );
}
