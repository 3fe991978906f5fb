/**
 * The boundary where manifests enter the agent: read a folder (or files a Git source
 * hands over), validate everything, and return one frozen set, or throw every problem at
 * once. A set with any problem is rejected whole: nothing of it is applied.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ManifestInvalidError, PgmeshError } from '../core/errors.js';
import { deepFreeze } from './deep-freeze.js';
import { KINDS, type KindDefinition } from './kinds.js';
import type { ClusterManifest, ManifestSet } from './types.js';
import { validateManifestFiles, type ManifestFile } from './validate-set.js';

export type { ManifestFile };

export interface ParseOptions {
  /** Recorded as the set's `root` (the folder, or the Git path, the files came from). */
  root?: string;
  /** The kind registry; tests may pass their own. */
  kinds?: readonly KindDefinition[];
}

/**
 * Which files belong to a set: `*.yaml` / `*.yml`, and nothing under a dot-folder or
 * dot-file (`.git/`, `.github/workflows/*.yml` when the root is a repository's top).
 */
export function isManifestPath(relativePath: string): boolean {
  const parts = relativePath.split('/');
  return /\.ya?ml$/i.test(relativePath) && parts.every((p) => p !== '' && !p.startsWith('.'));
}

/**
 * Reads every manifest file under `dir` (recursively, in sorted order) and validates the
 * set. Throws PGMESH_MANIFEST_NOT_FOUND when the folder is missing or holds no manifest,
 * ManifestInvalidError (PGMESH_MANIFEST_INVALID) with every problem otherwise.
 */
export async function loadManifestSet(
  dir: string,
  options: Omit<ParseOptions, 'root'> = {},
): Promise<ManifestSet> {
  const files = await readManifestFiles(dir);
  return parseManifestSetFromFiles(files, { ...options, root: dir });
}

/** The manifest files under `dir`, paths relative to it with '/' separators, sorted. */
export async function readManifestFiles(dir: string): Promise<ManifestFile[]> {
  let paths: string[];
  try {
    paths = await listFiles(dir, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PgmeshError(
        'PGMESH_MANIFEST_NOT_FOUND',
        `no manifest folder at ${dir}${code === 'ENOTDIR' ? ' (it is not a folder)' : ''}`,
        { cause: err },
      );
    }
    throw err;
  }
  const selected = paths.filter(isManifestPath).sort(comparePaths);
  return Promise.all(
    selected.map(async (p) => ({ path: p, content: await readFile(path.join(dir, p), 'utf8') })),
  );
}

/**
 * Validates a manifest set given as files (paths relative to the set's root). Pure: the
 * folder loader and the Git source both end here. Files that are not manifests
 * (see isManifestPath) are ignored, and the rest are taken in sorted path order.
 */
export function parseManifestSetFromFiles(
  files: ReadonlyArray<{ path: string; content: string }>,
  options: ParseOptions = {},
): ManifestSet {
  const root = options.root ?? '.';
  const selected = files
    .map((f) => ({ path: f.path.split(path.sep).join('/').replace(/^\.\//, ''), content: f.content }))
    .filter((f) => isManifestPath(f.path))
    .sort((a, b) => comparePaths(a.path, b.path));
  if (selected.length === 0) {
    throw new PgmeshError(
      'PGMESH_MANIFEST_NOT_FOUND',
      `no manifest files (*.yaml, *.yml) in ${root}`,
    );
  }

  const { documents, problems } = validateManifestFiles(selected, options.kinds ?? KINDS);
  if (problems.length > 0) throw new ManifestInvalidError(problems);

  // Validation guarantees exactly one Cluster; a registry without the Cluster kind is a bug.
  const cluster = documents.find((d) => d.manifest.kind === 'Cluster')?.manifest as
    | ClusterManifest
    | undefined;
  if (!cluster) throw new Error('the kind registry has no Cluster kind');

  return deepFreeze({ root, digest: digestOf(selected), cluster, documents });
}

/** sha256 over every file's relative path and content, in sorted order. */
export function digestOf(files: readonly ManifestFile[]): string {
  const hash = createHash('sha256');
  for (const f of files) {
    // Lengths first, so no two different sets can concatenate to the same bytes.
    const p = Buffer.from(f.path, 'utf8');
    const c = Buffer.from(f.content, 'utf8');
    hash.update(`${p.length}:`).update(p).update(`${c.length}:`).update(c);
  }
  return hash.digest('hex');
}

async function listFiles(root: string, relative: string): Promise<string[]> {
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) {
      found.push(...(await listFiles(root, rel)));
    } else if (entry.isFile()) {
      found.push(rel);
    } else if (entry.isSymbolicLink()) {
      // Symlinked files are followed (mounted config folders are made of them); symlinked
      // folders are not, so a link loop cannot hang the loader.
      const target = await stat(path.join(root, rel)).catch(() => undefined);
      if (target?.isFile()) found.push(rel);
    }
  }
  return found;
}

/** Code-point order, the same on every machine and locale. */
function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
