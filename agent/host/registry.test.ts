import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkRegistry, digestFromPushOutput, digestReference, registryTag } from './registry.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('registry references', () => {
  it('names the pushed image by digest, keeping the registry port apart from the tag', () => {
    const remote = registryTag('127.0.0.1:5213', 'pgmesh/pgnode:3ef2aabda3a1');
    expect(remote).toBe('127.0.0.1:5213/pgmesh/pgnode:3ef2aabda3a1');
    expect(digestReference(remote, DIGEST)).toBe(`127.0.0.1:5213/pgmesh/pgnode@${DIGEST}`);
    expect(digestReference('127.0.0.1:5213/pgmesh/pgnode', DIGEST)).toBe(
      `127.0.0.1:5213/pgmesh/pgnode@${DIGEST}`,
    );
  });

  it('reads the digest from docker push output', () => {
    expect(digestFromPushOutput(`5b54: Pushed\nt1: digest: ${DIGEST} size: 528\n`)).toBe(DIGEST);
    expect(digestFromPushOutput('denied: requested access to the resource is denied')).toBe(
      undefined,
    );
  });
});

describe('checkRegistry', () => {
  it('refuses an address with a scheme or path before any request', async () => {
    await expect(checkRegistry('http://example.com:5000')).rejects.toMatchObject({
      code: 'PGMESH_REGISTRY_UNREACHABLE',
    });
  });

  it('names the registry and why when nothing answers on its port', async () => {
    // A port that was free a moment ago: connection refused.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const err = await checkRegistry(`127.0.0.1:${port}`, 1000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PGMESH_REGISTRY_UNREACHABLE' });
    expect((err as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    expect((err as Error).message).toMatch(/nothing was built or changed/);
  });
});
