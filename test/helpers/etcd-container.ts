import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { waitFor } from '../../agent/core/wait.js';
import { etcdTestImage } from './test-images.js';

const run = promisify(execFile);

export interface EtcdContainer {
  name: string;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Runs etcdctl inside the container, as a person would by hand. */
  etcdctl(...args: string[]): Promise<string>;
  remove(): Promise<void>;
}

async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 << 20 });
  return stdout;
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
  const image = await etcdTestImage();
  await docker(['rm', '-f', '-v', name]).catch(() => undefined);
  const port = await freePort();
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '-p',
    `127.0.0.1:${port}:2379`,
    // The product image is configured through ETCD_* variables only (etcd refuses a
    // flag that shadows one of them).
    '-e',
    'ETCD_NAME=test',
    '-e',
    'ETCD_DATA_DIR=/tmp/etcd',
    '-e',
    `ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:${port}`,
    '-e',
    'ETCD_LISTEN_PEER_URLS=http://127.0.0.1:2380',
    image,
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
      await docker(['rm', '-f', '-v', name]).catch(() => undefined);
    },
  };
}
