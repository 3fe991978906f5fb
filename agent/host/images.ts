/**
 * Builds pgmesh's images with the local Docker engine (legacy builder, no registry).
 * Each tag carries a hash of the image's inputs, so an unchanged image is never rebuilt
 * and a changed one always is. See images/README.md for what the images contain.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { ImageBuildError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export type ImageName = 'pgnode' | 'etcd' | 'haproxy' | 'agent';

/** Build order: small images first, the agent (which needs dist/) last. */
export const IMAGE_NAMES: readonly ImageName[] = ['etcd', 'haproxy', 'pgnode', 'agent'];

export const IMAGE_REPOSITORY_PREFIX = 'pgmesh/';

export interface InputFile {
  /** Path relative to the build context, with forward slashes. */
  path: string;
  content: Buffer | string;
}

export interface BuildImagesOptions {
  repoRoot: string;
  /** Base image (tag or ID) passed as --build-arg BASE, e.g. pgmesh/base:trixie. */
  base: string;
  log: Logger;
  onProgress?: (line: string) => void;
  only?: ImageName[];
  /** The docker client binary; tests may pass another. */
  dockerCommand?: string;
  /** Repository prefix of the tags: `pgmesh/` unless a test wants its own names. */
  tagPrefix?: string;
}

/**
 * sha256 over the image's name, the base image's ID and its input files (sorted by
 * path; each path and content length-prefixed so no two inputs collide). Pure.
 */
export function imageInputHash(input: {
  name: string;
  baseImageId: string;
  files: readonly InputFile[];
}): string {
  const h = createHash('sha256');
  const field = (data: Buffer | string): void => {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    h.update(`${buf.length}:`);
    h.update(buf);
    h.update('\n');
  };
  field('pgmesh-image-v1');
  field(input.name);
  field(input.baseImageId);
  const files = [...input.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < files.length; i++) {
    if (files[i].path === files[i - 1].path)
      throw new Error(`duplicate input path ${files[i].path}`);
  }
  for (const f of files) {
    field(f.path);
    field(f.content);
  }
  return h.digest('hex');
}

export function imageTag(name: ImageName, hash: string, prefix = IMAGE_REPOSITORY_PREFIX): string {
  return `${prefix}${name}:${hash.slice(0, 12)}`;
}

/**
 * The node_modules paths the agent needs at run time, from package-lock.json (v2/v3):
 * every installed package not marked dev-only. Pure, so the agent image carries no dev
 * tooling and npm is not needed to find out.
 */
export function productionPackagePaths(lock: unknown): string[] {
  const packages = (lock as { packages?: Record<string, { dev?: boolean; link?: boolean }> })
    .packages;
  if (!packages || typeof packages !== 'object') {
    throw new Error(
      'package-lock.json has no "packages" map (lockfileVersion 2 or later is needed)',
    );
  }
  return Object.entries(packages)
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev)
    .map(([path]) => path)
    .sort();
}

/** Every file under `dir`, as paths relative to `root`. */
async function listFiles(root: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(relative(root, full).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readInputs(root: string, paths: string[]): Promise<InputFile[]> {
  return Promise.all(paths.map(async (p) => ({ path: p, content: await readFile(join(root, p)) })));
}

/** The agent image's inputs, relative to the repository root (also its build context). */
const AGENT_FILES = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json'];
// dist/ holds the compiled schemas too (imported as JSON). Not manifests/: a manifest
// change must not rebuild the agent, which reads them from Git.
const AGENT_DIRS = ['dist', 'sql'];

async function agentInputPaths(repoRoot: string): Promise<string[]> {
  if (!(await exists(join(repoRoot, 'dist', 'agent', 'cli', 'main.js')))) {
    throw new ImageBuildError(
      'image agent: dist/agent/cli/main.js is missing; run `npm run build` first',
    );
  }
  const paths: string[] = [];
  for (const f of AGENT_FILES) if (await exists(join(repoRoot, f))) paths.push(f);
  for (const d of AGENT_DIRS)
    if (await exists(join(repoRoot, d)))
      paths.push(...(await listFiles(repoRoot, join(repoRoot, d))));
  return paths.sort();
}

/**
 * A clean build context for the agent: the inputs plus the production packages from
 * node_modules. Nothing else from the repository (no .git, no .env) can reach the image.
 */
async function stageAgentContext(repoRoot: string, paths: string[]): Promise<string> {
  const ctx = await mkdtemp(join(tmpdir(), 'pgmesh-agent-ctx-'));
  for (const p of paths) {
    await mkdir(join(ctx, p, '..'), { recursive: true });
    await cp(join(repoRoot, p), join(ctx, p));
  }
  for (const d of AGENT_DIRS) await mkdir(join(ctx, d), { recursive: true });
  const lock: unknown = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8'));
  const copied: string[] = [];
  for (const p of productionPackagePaths(lock)) {
    // Nested packages (a/node_modules/b) came with their parent.
    if (copied.some((c) => p.startsWith(`${c}/node_modules/`))) continue;
    const from = join(repoRoot, p);
    // Optional packages for other platforms are in the lock but not on disk.
    if (!(await exists(from))) continue;
    await cp(from, join(ctx, p), { recursive: true, verbatimSymlinks: true });
    copied.push(p);
  }
  return ctx;
}

interface RunResult {
  code: number;
  stdout: string;
}

/** Runs the docker client; lines go to onLine, the last `keep` lines are kept for errors. */
function runDocker(
  docker: string,
  args: string[],
  onLine?: (line: string) => void,
  tail?: string[],
  keep = 40,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(docker, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The legacy builder is what this engine (20.10) has; a newer client would
      // otherwise try BuildKit/buildx.
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    let stdout = '';
    const feed = (stream: NodeJS.ReadableStream, collect: boolean): void => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        if (collect) stdout += chunk;
        partial += chunk;
        const lines = partial.split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const line of lines) emit(line);
      });
      stream.on('end', () => {
        if (partial) emit(partial);
      });
    };
    const emit = (line: string): void => {
      if (tail) {
        tail.push(line);
        if (tail.length > keep) tail.shift();
      }
      onLine?.(line);
    };
    feed(child.stdout, true);
    feed(child.stderr, false);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

async function imageId(docker: string, ref: string): Promise<string | undefined> {
  const r = await runDocker(docker, ['image', 'inspect', '--format', '{{.Id}}', ref]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** One image built from a folder of the tree, tagged by a hash of its inputs. */
export interface TreeImageSpec {
  /** Goes into the hash, so two images of one context never share a tag. */
  key: string;
  /** The build context. */
  contextDir: string;
  /** The context's files that are inputs, relative to contextDir (default: all of them). */
  paths?: string[];
  /** A Dockerfile inside the context other than `Dockerfile`. */
  dockerfile?: string;
  /** The tag's repository, e.g. `pgmesh/pgnode` or `pgmtest-engine/pg17`. */
  repository: string;
  /** A staged context to build from instead of contextDir (removed by the caller). */
  stage?: (paths: string[]) => Promise<string>;
}

export interface TreeImageOptions {
  base: string;
  log: Logger;
  onProgress?: (line: string) => void;
  dockerCommand?: string;
}

/** Every file under `dir`, as paths relative to `dir`: the default inputs of an image. */
export async function contextFiles(dir: string): Promise<string[]> {
  return listFiles(dir, dir);
}

/** The hash of a tree image's inputs against a base image ID. Reads files; builds nothing. */
export async function treeImageHash(spec: TreeImageSpec, baseImageId: string): Promise<string> {
  const paths = spec.paths ?? (await contextFiles(spec.contextDir));
  return imageInputHash({
    name: spec.key,
    baseImageId,
    files: await readInputs(spec.contextDir, paths),
  });
}

async function baseImageIdOf(docker: string, base: string): Promise<string> {
  let id: string | undefined;
  try {
    id = await imageId(docker, base);
  } catch (err) {
    throw new ImageBuildError(`cannot run the docker client (${docker})`, { cause: err });
  }
  if (!id) {
    throw new ImageBuildError(
      `base image ${base} does not exist; run scripts/host-setup.sh to make it`,
    );
  }
  return id;
}

/**
 * Builds one image from the tree unless an image with the same input hash exists, and
 * returns its hashed tag: an unchanged image is reused, a changed input always rebuilds.
 */
export async function buildTreeImage(
  spec: TreeImageSpec,
  options: TreeImageOptions & { baseImageId?: string },
): Promise<string> {
  const docker = options.dockerCommand ?? 'docker';
  const { log } = options;
  const baseImageId = options.baseImageId ?? (await baseImageIdOf(docker, options.base));
  const paths = spec.paths ?? (await contextFiles(spec.contextDir));
  const hash = await treeImageHash({ ...spec, paths }, baseImageId);
  const tag = `${spec.repository}:${hash.slice(0, 12)}`;
  const started = Date.now();
  if (await imageId(docker, tag)) {
    log.debug({ image: spec.key, tag }, 'image up to date');
    return tag;
  }
  log.info({ image: spec.key, tag }, 'building image');
  const ctx = spec.stage ? await spec.stage(paths) : spec.contextDir;
  const tail: string[] = [];
  try {
    const args = ['build', '--build-arg', `BASE=${options.base}`];
    if (spec.dockerfile) args.push('-f', join(ctx, spec.dockerfile));
    args.push('--label', `pgmesh.inputs=${hash}`, '-t', tag, ctx);
    const r = await runDocker(
      docker,
      args,
      (line) => options.onProgress?.(`[${spec.key}] ${line}`),
      tail,
    );
    if (r.code !== 0) {
      throw new ImageBuildError(
        `image ${spec.key} failed to build (docker build exited ${r.code}); last output:\n${tail.join('\n')}`,
      );
    }
  } catch (err) {
    if (err instanceof ImageBuildError) throw err;
    throw new ImageBuildError(`image ${spec.key}: docker build could not run`, { cause: err });
  } finally {
    if (spec.stage) await rm(ctx, { recursive: true, force: true });
  }
  log.info(
    { image: spec.key, tag, seconds: Math.round((Date.now() - started) / 1000) },
    'image built',
  );
  return tag;
}

/**
 * Builds (or reuses) every image, or those in `only`. Returns name → hashed tag.
 * Also tags each as pgmesh/<name>:latest.
 */
export async function buildImages(options: BuildImagesOptions): Promise<Record<ImageName, string>> {
  const docker = options.dockerCommand ?? 'docker';
  const prefix = options.tagPrefix ?? IMAGE_REPOSITORY_PREFIX;
  const { repoRoot } = options;
  const wanted = IMAGE_NAMES.filter((n) => !options.only || options.only.includes(n));
  const baseImageId = await baseImageIdOf(docker, options.base);
  const result = {} as Record<ImageName, string>;
  for (const name of wanted) {
    const isAgent = name === 'agent';
    const spec: TreeImageSpec = isAgent
      ? {
          key: name,
          contextDir: repoRoot,
          paths: await agentInputPaths(repoRoot),
          repository: `${prefix}${name}`,
          stage: (paths) => stageAgentContext(repoRoot, paths),
        }
      : { key: name, contextDir: join(repoRoot, 'images', name), repository: `${prefix}${name}` };
    const tag = await buildTreeImage(spec, { ...options, dockerCommand: docker, baseImageId });
    const latest = `${prefix}${name}:latest`;
    const t = await runDocker(docker, ['tag', tag, latest]);
    if (t.code !== 0) throw new ImageBuildError(`image ${name}: could not tag ${tag} as ${latest}`);
    result[name] = tag;
  }
  return result;
}
