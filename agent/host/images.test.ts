import { describe, expect, it } from 'vitest';
import { imageInputHash, imageTag, productionPackagePaths, type InputFile } from './images.js';

const files: InputFile[] = [
  { path: 'Dockerfile', content: 'FROM ${BASE}\n' },
  { path: 'entry.sh', content: Buffer.from('#!/bin/sh\n') },
];

describe('imageInputHash', () => {
  const base = { name: 'pgnode' as const, baseImageId: 'sha256:aaa', files };

  it('does not depend on the order files are listed in', () => {
    expect(imageInputHash(base)).toBe(imageInputHash({ ...base, files: [...files].reverse() }));
  });

  it('changes with any content, path, base image or image name', () => {
    const h = imageInputHash(base);
    expect(
      imageInputHash({ ...base, files: [files[0], { path: 'entry.sh', content: '#!/bin/sh \n' }] }),
    ).not.toBe(h);
    expect(
      imageInputHash({ ...base, files: [files[0], { path: 'entry2.sh', content: '#!/bin/sh\n' }] }),
    ).not.toBe(h);
    expect(imageInputHash({ ...base, baseImageId: 'sha256:bbb' })).not.toBe(h);
    expect(imageInputHash({ ...base, name: 'etcd' })).not.toBe(h);
    expect(imageInputHash({ ...base, files: files.slice(0, 1) })).not.toBe(h);
  });

  it('cannot be fooled by moving bytes between a path and its content', () => {
    const a = imageInputHash({ ...base, files: [{ path: 'ab', content: 'c' }] });
    const b = imageInputHash({ ...base, files: [{ path: 'a', content: 'bc' }] });
    expect(a).not.toBe(b);
  });

  it('treats strings and buffers with the same bytes alike', () => {
    const s = imageInputHash({ ...base, files: [{ path: 'x', content: 'é' }] });
    const b = imageInputHash({
      ...base,
      files: [{ path: 'x', content: Buffer.from('é', 'utf8') }],
    });
    expect(s).toBe(b);
  });

  it('rejects duplicate paths', () => {
    expect(() => imageInputHash({ ...base, files: [files[0], files[0]] })).toThrow(/duplicate/);
  });

  it('gives a 12-character tag', () => {
    const h = imageInputHash(base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(imageTag('pgnode', h)).toBe(`pgmesh/pgnode:${h.slice(0, 12)}`);
  });
});

describe('productionPackagePaths', () => {
  it('keeps installed packages that are not dev-only', () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'pgmesh' },
        'node_modules/pg': {},
        'node_modules/vitest': { dev: true },
        'node_modules/a/node_modules/b': {},
        'node_modules/fsevents': { optional: true },
        'node_modules/typescript': { dev: true },
      },
    };
    expect(productionPackagePaths(lock)).toEqual([
      'node_modules/a/node_modules/b',
      'node_modules/fsevents',
      'node_modules/pg',
    ]);
  });

  it('refuses a lockfile without a packages map', () => {
    expect(() => productionPackagePaths({ lockfileVersion: 1, dependencies: {} })).toThrow(
      /lockfileVersion/,
    );
  });
});
