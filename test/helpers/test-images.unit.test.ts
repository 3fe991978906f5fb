import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contextFiles, treeImageHash } from '../../agent/host/images.js';
import { REPO } from './cli.js';
import { engineTestImageSpec } from './test-images.js';

const BASE_ID = 'sha256:0000';

describe('the engine test image is rebuilt when images/pgnode/ext changes', () => {
  let root: string;
  let ext: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pgmesh-ext-hash-'));
    ext = join(root, 'images', 'pgnode', 'ext');
    await cp(join(REPO, 'images', 'pgnode', 'ext'), ext, { recursive: true });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('takes every file of the folder as input, its Dockerfile included', async () => {
    const files = await contextFiles(ext);
    expect(files).toContain('test.Dockerfile');
    expect(files).toContain('Makefile');
    expect(files.filter((f) => f.endsWith('.c')).length).toBeGreaterThanOrEqual(2);
    expect(engineTestImageSpec(root).dockerfile).toBe('test.Dockerfile');
  });

  it('depends on content only: a copy of the tree hashes like the tree', async () => {
    expect(await treeImageHash(engineTestImageSpec(root), BASE_ID)).toBe(
      await treeImageHash(engineTestImageSpec(REPO), BASE_ID),
    );
  });

  it('changes when a C source, the Makefile, the Dockerfile or the file set changes', async () => {
    const before = await treeImageHash(engineTestImageSpec(root), BASE_ID);
    const seen = new Set([before]);
    const steps: [string, () => Promise<void>][] = [
      ['pgmesh.c edited', () => appendFile(join(ext, 'pgmesh.c'), '\n/* edit */\n')],
      ['Makefile edited', () => appendFile(join(ext, 'Makefile'), '\n# edit\n')],
      ['test.Dockerfile edited', () => appendFile(join(ext, 'test.Dockerfile'), '\n# edit\n')],
      ['a file added', () => writeFile(join(ext, 'new.c'), 'int x;\n')],
      ['a file removed', () => rm(join(ext, 'README.md'))],
    ];
    for (const [what, change] of steps) {
      await change();
      const h = await treeImageHash(engineTestImageSpec(root), BASE_ID);
      expect(seen.has(h), `${what}: the hash must be new`).toBe(false);
      seen.add(h);
    }
    // And another base image is another image.
    expect(await treeImageHash(engineTestImageSpec(root), 'sha256:1111')).not.toBe(
      await treeImageHash(engineTestImageSpec(root), BASE_ID),
    );
  });
});
