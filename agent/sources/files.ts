import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SourceFile } from './types.js';

/** Manifests are text; a file larger than this is not one of them. */
const MAX_FILE_BYTES = 4 << 20;

/** Dot-files and dot-folders (.git, editors' swap files) are never part of a manifest set. */
export function isHidden(relPath: string): boolean {
  return relPath.split(/[\\/]/).some((part) => part.startsWith('.'));
}

/** Reads every regular file under `root`, sorted by path. */
export async function readTree(root: string): Promise<SourceFile[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: SourceFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    const rel = relative(root, abs).split(sep).join('/');
    if (isHidden(rel)) continue;
    const buf = await readFile(abs);
    if (buf.length > MAX_FILE_BYTES) continue;
    files.push({ path: rel, content: buf.toString('utf8') });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A digest over paths and contents: the same files give the same revision anywhere. */
export function digestFiles(files: SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path).update('\0').update(f.content).update('\0');
  return `sha256:${h.digest('hex')}`;
}
