import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.js';
import { FolderSource } from './folder.js';

let dir = '';
let src: FolderSource | undefined;
afterEach(async () => {
  await src?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('FolderSource', () => {
  it('reads files sorted, skips dot-files, digests content, and debounces change events', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgmtest-agent-folder-'));
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'b.yaml'), 'b: 1\n');
    await writeFile(join(dir, 'sub', 'a.yaml'), 'a: 1\n');
    await writeFile(join(dir, '.git', 'HEAD'), 'x');
    await writeFile(join(dir, '.b.yaml.swp'), 'x');
    src = new FolderSource({ path: dir, log: silentLogger(), debounceMs: 150 });
    const s1 = await src.read();
    expect(s1.files.map((f) => f.path)).toEqual(['b.yaml', 'sub/a.yaml']);
    expect(s1.revision).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await src.read()).revision).toBe(s1.revision);

    let events = 0;
    let resolveChange: () => void = () => undefined;
    const changed = new Promise<void>((r) => (resolveChange = r));
    src.onChange(() => {
      events++;
      resolveChange();
    });
    await src.ready();
    await writeFile(join(dir, 'b.yaml'), 'b: 2\n');
    await writeFile(join(dir, 'c.yaml'), 'c: 1\n');
    await changed;
    await new Promise((r) => setTimeout(r, 400));
    expect(events).toBe(1);
    const s2 = await src.read();
    expect(s2.revision).not.toBe(s1.revision);
    expect(s2.files.map((f) => f.path)).toEqual(['b.yaml', 'c.yaml', 'sub/a.yaml']);
  });
});
