import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSource } from '../../agent/sources/git.js';

const run = promisify(execFile);
const TOKEN = 'gitpw-7c1e0d2b-not-for-logs';

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), text: () => lines.join('') };
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd });
  return stdout.trim();
}

/** A real git smart-HTTP server (git http-backend) behind Basic auth. */
function gitHttpServer(projectRoot: string, user: string, password: string): Server {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="pgmesh-test"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let sentHead = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (sentHead) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      sentHead = true;
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  });
}

describe('GitSource against real repositories', () => {
  let root: string;
  let bare: string;
  let author: string;

  async function commit(files: Record<string, string | null>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const abs = join(author, path);
      if (content === null) await unlink(abs);
      else {
        await mkdir(join(abs, '..'), { recursive: true });
        await writeFile(abs, content);
      }
    }
    await git(author, 'add', '-A');
    await git(author, 'commit', '-q', '-m', message);
    await git(author, 'push', '-q', 'origin', 'main');
    return git(author, 'rev-parse', 'HEAD');
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pgmtest-agent-git-'));
    bare = join(root, 'manifests.git');
    author = join(root, 'author');
    await run('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
    await run('git', ['init', '-q', '--initial-branch=main', author]);
    await git(author, 'config', 'user.email', 'test@pgmesh.invalid');
    await git(author, 'config', 'user.name', 'pgmesh test');
    await git(author, 'remote', 'add', 'origin', bare);
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('clones, then follows pushed commits with fetch + hard reset, reading one path', async () => {
    const c1 = await commit(
      {
        'manifests/cluster.yaml': 'kind: Cluster\n',
        'manifests/extra/t.yaml': 'a: 1\n',
        'README.md': 'x',
      },
      'first',
    );
    const { log } = captureLogger();
    const src = new GitSource({
      url: bare,
      branch: 'main',
      path: 'manifests',
      workDir: join(root, 'work1'),
      log,
    });
    const s1 = await src.read();
    expect(s1).toMatchObject({ kind: 'git', revision: c1, ref: 'main' });
    expect(s1.files).toEqual([
      { path: 'cluster.yaml', content: 'kind: Cluster\n' },
      { path: 'extra/t.yaml', content: 'a: 1\n' },
    ]);

    // A local edit in the clone never survives: the branch is the truth.
    await writeFile(join(root, 'work1', 'manifests', 'cluster.yaml'), 'tampered\n');
    await writeFile(join(root, 'work1', 'manifests', 'stray.yaml'), 'stray\n');
    const c2 = await commit(
      { 'manifests/cluster.yaml': 'kind: Cluster\nspec: 2\n', 'manifests/extra/t.yaml': null },
      'second',
    );
    const s2 = await src.read();
    expect(s2.revision).toBe(c2);
    expect(s2.files).toEqual([{ path: 'cluster.yaml', content: 'kind: Cluster\nspec: 2\n' }]);

    // Polling: a new commit on the remote fires onChange.
    const src2 = new GitSource({
      url: bare,
      branch: 'main',
      path: 'manifests',
      workDir: join(root, 'work1'),
      pollIntervalMs: 100,
      log,
    });
    await src2.read();
    const changed = new Promise<void>((resolve) => src2.onChange(resolve));
    const c3 = await commit({ 'manifests/cluster.yaml': 'kind: Cluster\nspec: 3\n' }, 'third');
    await changed;
    expect((await src2.read()).revision).toBe(c3);
    await src2.close();
    await src.close();
  });

  it('authenticates over HTTP with a password file, keeping the secret out of logs and errors', async () => {
    const server = gitHttpServer(root, 'pgmesh', TOKEN);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/manifests.git`;
    const good = join(root, 'token');
    const bad = join(root, 'bad-token');
    await writeFile(good, `${TOKEN}\n`, { mode: 0o600 });
    await writeFile(bad, 'wrong\n', { mode: 0o600 });
    const cap = captureLogger();
    try {
      const head = await git(author, 'rev-parse', 'HEAD');
      const src = new GitSource({
        url,
        branch: 'main',
        path: 'manifests',
        workDir: join(root, 'work-http'),
        username: 'pgmesh',
        passwordFile: good,
        log: cap.log,
      });
      expect((await src.read()).revision).toBe(head);
      const c = await commit(
        { 'manifests/cluster.yaml': 'kind: Cluster\nspec: http\n' },
        'over http',
      );
      expect((await src.read()).revision).toBe(c);
      expect(await src.remoteRevision()).toBe(c);
      await src.close();

      const denied = new GitSource({
        url,
        branch: 'main',
        workDir: join(root, 'work-denied'),
        username: 'pgmesh',
        passwordFile: bad,
        log: cap.log,
      });
      const err = await denied.read().then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(String(err?.message)).not.toContain(TOKEN);
      await denied.close();

      // No credentials at all: git must not hang on a prompt.
      const anonymous = new GitSource({
        url,
        branch: 'main',
        workDir: join(root, 'work-anon'),
        log: cap.log,
      });
      await expect(anonymous.read()).rejects.toThrow();
      await anonymous.close();
      expect(
        () =>
          new GitSource({
            url: `http://u:${TOKEN}@127.0.0.1/x.git`,
            branch: 'main',
            workDir: root,
            log: cap.log,
          }),
      ).toThrow(/carries a password/);
      expect(cap.text()).not.toContain(TOKEN);
      expect(cap.text()).toContain('git source read');
    } finally {
      server.close();
    }
  });
});
