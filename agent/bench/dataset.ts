/**
 * The bench's seeded data: memory entries spread over many namespaces, with clustered
 * embeddings (random unit centroids plus gaussian noise, normalised), the shape real
 * embeddings have and the one that makes HNSW recall meaningful. Pure: no I/O.
 */
import { gaussian, mulberry32, uuidFrom, type Rng } from './rng.js';

export interface DatasetOptions {
  seed: number;
  rows: number;
  namespaces: number;
  dims: number;
  centroids: number;
  /** Standard deviation of the per-component noise around a centroid. */
  noise: number;
  /** Namespace names are `<prefix><n>`. */
  prefix: string;
}

export interface MemoryRow {
  namespace: string;
  id: string;
  key: string;
  content: string;
  metadata: string;
  /** pgvector's text form, `[x,y,...]`. */
  embedding: string;
}

export const DEFAULT_DATASET: DatasetOptions = {
  seed: 42,
  rows: 20_000,
  namespaces: 50,
  dims: 384,
  centroids: 200,
  noise: 0.04,
  prefix: 'bench-',
};

function normalise(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/** pgvector text with 6 decimals: short, and exact enough for cosine distance. */
export function vectorText(v: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < v.length; i++) parts.push(String(Math.round(v[i]! * 1e6) / 1e6));
  return `[${parts.join(',')}]`;
}

/** A source of clustered unit vectors: the same seed gives the same centroids. */
export class VectorSpace {
  private readonly centroids: Float64Array[];

  /** Centroids come from `centroidRng`; points from `rng` (the same stream by default). */
  constructor(
    centroidRng: Rng,
    readonly dims: number,
    count: number,
    private readonly noise: number,
    private readonly rng: Rng = centroidRng,
  ) {
    this.centroids = Array.from({ length: count }, () =>
      normalise(Float64Array.from({ length: dims }, () => gaussian(centroidRng))),
    );
  }

  /** A point near a random centroid. */
  next(): Float64Array {
    const c = this.centroids[Math.floor(this.rng() * this.centroids.length)]!;
    const v = new Float64Array(this.dims);
    for (let i = 0; i < this.dims; i++) v[i] = c[i]! + gaussian(this.rng) * this.noise;
    return normalise(v);
  }
}

export function namespaceName(o: Pick<DatasetOptions, 'prefix'>, n: number): string {
  return `${o.prefix}${n}`;
}

/** The rows of the data set, in a fixed order. Row i is in namespace i mod namespaces. */
export function generateRows(o: DatasetOptions, from = 0, count = o.rows): MemoryRow[] {
  const rng = mulberry32(o.seed);
  const space = new VectorSpace(rng, o.dims, o.centroids, o.noise);
  // Rows before `from` are drawn and dropped, so a slice equals the same rows of a full run.
  const rows: MemoryRow[] = [];
  for (let i = 0; i < from + count; i++) {
    const id = uuidFrom(rng);
    const v = space.next();
    if (i < from) continue;
    const namespace = namespaceName(o, i % o.namespaces);
    rows.push({
      namespace,
      id,
      key: `k${i}`,
      content: `memory entry ${i} of ${namespace}`,
      metadata: JSON.stringify({ i, source: 'pgmesh-bench' }),
      embedding: vectorText(v),
    });
  }
  return rows;
}

/** Query vectors from the same centroids as the data, on a stream of their own. */
export function generateQueries(o: DatasetOptions, count: number): string[] {
  // Same centroids (the first draws of the data's stream); points from a stream of their own.
  const draws = mulberry32((o.seed ^ 0x9e3779b9) >>> 0);
  const space = new VectorSpace(mulberry32(o.seed), o.dims, o.centroids, o.noise, draws);
  return Array.from({ length: count }, () => vectorText(space.next()));
}
