import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { waitFor } from '../../agent/core/wait.js';

const run = promisify(execFile);

/** Built on demand from the local base image; no registry needed. */
export const ETCD_TEST_IMAGE = 'pgmtest-agent/etcd:latest';
const DOCKERFILE = `FROM pgmesh/base:trixie
RUN apt-get update && apt-get install -y --no-install-recommends etcd-server etcd-client && rm -rf /var/lib/apt/lists/*
`;

export interface EtcdContainer {
  name: string;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Runs etcdctl inside the container, as a person would by hand. */
  etcdctl(...args: string[]): Promise<string>;
  remove(): Promise<void>;
}

async function docker(args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await run('docker', args, { maxBuffer: 16 << 20 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = execFile('docker', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

async function ensureImage(): Promise<void> {
  try {
    await docker(['image', 'inspect', ETCD_TEST_IMAGE]);
  } catch {
    await docker(['build', '-q', '-t', ETCD_TEST_IMAGE, '-'], DOCKERFILE);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a single-member etcd in Docker, published on a free loopback port. A container
 * left by an earlier run under the same name is removed first.
 */
export async function startEtcd(name: string): Promise<EtcdContainer> {
  if (!name.startsWith('pgmtest-')) throw new Error('test containers are named pgmtest-<owner>-*');
  await ensureImage();
  await docker(['rm', '-f', name]).catch(() => undefined);
  const port = await freePort();
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '-p',
    `127.0.0.1:${port}:2379`,
    ETCD_TEST_IMAGE,
    'etcd',
    '--name',
    'test',
    '--data-dir',
    '/tmp/etcd',
    '--listen-client-urls',
    'http://0.0.0.0:2379',
    '--advertise-client-urls',
    `http://127.0.0.1:${port}`,
    '--listen-peer-urls',
    'http://127.0.0.1:2380',
  ]);
  const etcdctl = async (...args: string[]): Promise<string> =>
    docker(['exec', '-e', 'ETCDCTL_API=3', name, 'etcdctl', ...args]);
  await waitFor(
    async () => {
      const out = await etcdctl('endpoint', 'health');
      return out.includes('is healthy') ? true : out;
    },
    { what: `etcd container ${name}`, timeoutMs: 30_000, intervalMs: 200 },
  );
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    etcdctl,
    async remove() {
      await docker(['rm', '-f', name]).catch(() => undefined);
    },
  };
}
