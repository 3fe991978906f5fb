import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { Logger } from '../core/log.js';
import { readTree } from './files.js';
import type { Snapshot, Source } from './types.js';

export interface GitSourceOptions {
  /** https://…, ssh://…, git://… or a local path. Never with a password in it. */
  url: string;
  branch: string;
  /** Folder inside the repository holding the manifests ('' for the root). */
  path?: string;
  /** Where the clone lives (kept between cycles; fetches are incremental). */
  workDir: string;
  /** HTTP(S) credentials: the user name, and a file holding the password or token. */
  username?: string;
  passwordFile?: string;
  /** Poll the remote (ls-remote) this often and fire onChange on a new commit. */
  pollIntervalMs?: number;
  log: Logger;
}

/** Replaces a user:password in a URL, so a URL can be logged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

const PASSED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'SSH_AUTH_SOCK',
];

const ASKPASS = `#!/bin/sh
# Written by the pgmesh agent: git asks for credentials through this script, which reads
# them from the file named in the environment. The secret is never in argv nor in env.
case "$1" in
  Username*) printf '%s\\n' "\${PGMESH_GIT_USERNAME:-git}" ;;
  *) cat "$PGMESH_GIT_PASSWORD_FILE" ;;
esac
`;

/**
 * Manifests from a Git branch. The first read clones into `workDir`; each read fetches the
 * branch and hard-resets to `origin/<branch>`, so local changes never survive. Credentials
 * reach git only through a GIT_ASKPASS script that reads the secret file when git asks.
 */
export class GitSource implements Source {
  readonly kind = 'git' as const;
  readonly #o: GitSourceOptions;
  readonly #dir: string;
  readonly #listeners = new Set<() => void>();
  #lastRevision: string | null = null;
  #lastRemote: string | null = null;
  #poll: NodeJS.Timeout | null = null;
  #askpass: string | null = null;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: GitSourceOptions) {
    if (/^[a-z][a-z0-9+.-]*:\/\/[^@/]*:[^@/]*@/i.test(options.url)) {
      throw new RangeError(
        `the git URL ${redactUrl(options.url)} carries a password; use passwordFile instead`,
      );
    }
    this.#o = options;
    this.#dir = resolve(options.workDir);
  }

  /** Reads are serialized: a webhook and a poll never run git in the same clone at once. */
  read(): Promise<Snapshot> {
    const next = this.#busy.then(
      () => this.#read(),
      () => this.#read(),
    );
    this.#busy = next.catch(() => undefined);
    return next;
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    if (!this.#poll && this.#o.pollIntervalMs) {
      this.#poll = setInterval(() => void this.#checkRemote(), this.#o.pollIntervalMs);
    }
    return () => this.#listeners.delete(cb);
  }

  async close(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    this.#listeners.clear();
    await this.#busy;
    if (this.#askpass) await rm(dirname(this.#askpass), { recursive: true, force: true });
  }

  /** The commit at the tip of the remote branch, without fetching it. */
  async remoteRevision(): Promise<string | null> {
    const out = await (
      await this.#git(dirname(this.#dir))
    ).listRemote([this.#o.url, `refs/heads/${this.#o.branch}`]);
    const sha = out.trim().split(/\s+/)[0];
    return sha ? sha : null;
  }

  async #read(): Promise<Snapshot> {
    const { url, branch, log } = this.#o;
    const t0 = Date.now();
    await this.#ensureClone();
    const git = await this.#git(this.#dir);
    await git.fetch('origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`, ['--prune']);
    await git.reset(['--hard', `origin/${branch}`]);
    await git.clean('f', ['-d', '-x']);
    // One call for the commit and what the history shows of it; %x00 separates the fields
    // (a subject may hold any other character).
    const [revision = '', subject = '', author = ''] = (
      await git.raw(['log', '-1', '--format=%H%x00%s%x00%an <%ae>'])
    )
      .trim()
      .split('\0');
    const root = resolve(this.#dir, this.#o.path ?? '');
    if (root !== this.#dir && !root.startsWith(this.#dir + '/')) {
      throw new RangeError(`the manifests path ${this.#o.path} leaves the repository`);
    }
    const files = (await isDir(root)) ? await readTree(root) : [];
    if (revision !== this.#lastRevision) {
      log.info({ url: redactUrl(url), branch, revision, ms: Date.now() - t0 }, 'git source read');
    }
    this.#lastRevision = revision;
    this.#lastRemote = revision;
    return { kind: 'git', revision, ref: branch, files, commit: { subject, author } };
  }

  async #ensureClone(): Promise<void> {
    if (existsSync(join(this.#dir, '.git'))) {
      const remote = (await (await this.#git(this.#dir)).remote(['get-url', 'origin'])) ?? '';
      if (remote.trim() === this.#o.url) return;
      this.#o.log.warn({ dir: this.#dir }, 'work dir holds another repository; cloning again');
    }
    await rm(this.#dir, { recursive: true, force: true });
    await mkdir(dirname(this.#dir), { recursive: true });
    await (
      await this.#git(dirname(this.#dir))
    ).clone(this.#o.url, this.#dir, ['--branch', this.#o.branch, '--single-branch']);
  }

  async #checkRemote(): Promise<void> {
    try {
      const sha = await this.remoteRevision();
      if (sha && sha !== this.#lastRemote) {
        this.#lastRemote = sha;
        for (const cb of this.#listeners) cb();
      }
    } catch (err) {
      this.#o.log.warn(
        { url: redactUrl(this.#o.url), err: redactUrl((err as Error).message) },
        'git poll failed',
      );
    }
  }

  async #git(baseDir: string): Promise<SimpleGit> {
    // git gets a small, known environment: nothing of ours (EDITOR, PAGER, GIT_*) leaks in.
    const env: Record<string, string> = {};
    for (const k of PASSED_ENV) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    env.GIT_TERMINAL_PROMPT = '0';
    if (this.#o.passwordFile) {
      env.GIT_ASKPASS = await this.#askpassScript();
      env.PGMESH_GIT_PASSWORD_FILE = resolve(this.#o.passwordFile);
      if (this.#o.username) env.PGMESH_GIT_USERNAME = this.#o.username;
    }
    return simpleGit({
      baseDir,
      allowEnvironment: ['GIT_TERMINAL_PROMPT', 'GIT_ASKPASS'],
      unsafe: { allowUnsafeAskPass: true },
    }).env(env);
  }

  async #askpassScript(): Promise<string> {
    if (this.#askpass) return this.#askpass;
    const dir = `${this.#dir}.askpass`;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'askpass.sh');
    await writeFile(file, ASKPASS, { mode: 0o700 });
    await chmod(file, 0o700);
    this.#askpass = file;
    return file;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
