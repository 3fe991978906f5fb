/**
 * The images the tests run, built from the tree by the tests themselves (never made by
 * hand): each is tagged by a hash of its inputs (agent/host/images.ts), so an unchanged
 * image is reused and a change under its folder always rebuilds it.
 */
import { join } from 'node:path';
import { buildImages, buildTreeImage, type TreeImageSpec } from '../../agent/host/images.js';
import { createLogger } from '../../agent/core/log.js';
import { REPO } from './cli.js';

const BASE = process.env.PGMESH_BASE_IMAGE ?? 'pgmesh/base:trixie';

/**
 * PostgreSQL 17 + pgvector + the pgmesh module from images/pgnode/ext (plain postgres,
 * no Patroni): the engine's integration tests and bench:engine.
 */
export function engineTestImageSpec(repoRoot = REPO): TreeImageSpec {
  return {
    key: 'engine-test',
    contextDir: join(repoRoot, 'images', 'pgnode', 'ext'),
    dockerfile: 'test.Dockerfile',
    repository: 'pgmtest-engine/pg17',
  };
}

const built = new Map<string, Promise<string>>();

function once(key: string, build: () => Promise<string>): Promise<string> {
  let p = built.get(key);
  if (!p) {
    p = build();
    // A failed build is not cached: the next caller tries again and sees the error itself.
    p.catch(() => built.delete(key));
    built.set(key, p);
  }
  return p;
}

const log = createLogger({ level: process.env.PGMESH_TEST_LOG ?? 'info', name: 'test-images' });

/** The engine test image's hashed tag, built first if it does not exist. */
export function engineTestImage(): Promise<string> {
  return once('engine-test', () =>
    buildTreeImage(engineTestImageSpec(), {
      base: BASE,
      log,
      onProgress: (line) => {
        if (process.env.PGMESH_TEST_BUILD_LOG === '1') process.stderr.write(`${line}\n`);
      },
    }),
  );
}

/** The product's etcd image (images/etcd), which the agent's etcd tests run as one member. */
export function etcdTestImage(): Promise<string> {
  return once('etcd', async () => {
    const tags = await buildImages({ repoRoot: REPO, base: BASE, log, only: ['etcd'] });
    return tags.etcd;
  });
}
