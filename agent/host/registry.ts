/**
 * Puts the images this machine built into the registry that `spec.images.registry` names,
 * so that every Swarm node pulls the same bytes: services then name each image by digest
 * (`<registry>/pgmesh/pgnode@sha256:...`), never by a tag a node might resolve otherwise.
 * Only this machine builds; nodes only pull.
 */
import { RegistryUnreachableError, ImageBuildError } from '../core/errors.js';
import { runDocker } from './images.js';

/** `host:port` or `host`, as Docker names registries (no scheme, no path). */
const REGISTRY_PATTERN = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/;

/** The image reference in the registry for a locally built tag: pgmesh/x:h → reg/pgmesh/x:h. */
export function registryTag(registry: string, localTag: string): string {
  return `${registry}/${localTag}`;
}

/** `repo@digest` from a `repo:tag` reference and the digest the registry gave. Pure. */
export function digestReference(taggedRef: string, digest: string): string {
  const slash = taggedRef.lastIndexOf('/');
  const colon = taggedRef.lastIndexOf(':');
  const repo = colon > slash ? taggedRef.slice(0, colon) : taggedRef;
  return `${repo}@${digest}`;
}

/** The digest in `docker push` output ("<tag>: digest: sha256:... size: N"). Pure. */
export function digestFromPushOutput(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
}

function urlsOf(registry: string): string[] {
  // Docker speaks plain HTTP to a loopback registry and HTTPS to any other unless told
  // otherwise; either answering is enough to know the registry is there.
  return [`https://${registry}`, `http://${registry}`];
}

/** Any HTTP answer from /v2/ (200, or 401 for a registry that wants a login) counts. */
export async function checkRegistry(registry: string, timeoutMs = 3000): Promise<void> {
  if (!REGISTRY_PATTERN.test(registry)) {
    throw new RegistryUnreachableError(
      `spec.images.registry: ${JSON.stringify(registry)} is not a registry address (host or host:port, no scheme or path)`,
    );
  }
  const reasons: string[] = [];
  for (const base of urlsOf(registry)) {
    try {
      const res = await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status === 200 || res.status === 401) return;
      reasons.push(`${base}/v2/ answered ${res.status}`);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      reasons.push(`${base}/v2/: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
  }
  throw new RegistryUnreachableError(
    `registry ${registry} (spec.images.registry) cannot be reached; nothing was built or changed (${reasons.join('; ')})`,
  );
}

/** The digest of `repo:tag` if the registry holds it already (a HEAD on its manifest). */
async function existingDigest(registry: string, localTag: string): Promise<string | undefined> {
  const colon = localTag.lastIndexOf(':');
  const repo = localTag.slice(0, colon);
  const tag = localTag.slice(colon + 1);
  for (const base of urlsOf(registry)) {
    try {
      const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
        },
        signal: AbortSignal.timeout(3000),
      });
      if (res.status === 404) return undefined;
      const digest = res.headers.get('docker-content-digest');
      if (res.ok && digest) return digest;
    } catch {
      // The other scheme may answer.
    }
  }
  return undefined;
}

/**
 * Pushes each built image (its content-hash tag) unless the registry has that tag already,
 * and returns name → digest reference. A tag is a hash of the image's inputs, so a tag the
 * registry holds is the same image.
 */
export async function pushImages<K extends string>(
  registry: string,
  images: Record<K, string>,
  options: { onProgress?: (line: string) => void } = {},
): Promise<Record<K, string>> {
  const result = {} as Record<K, string>;
  for (const [name, localTag] of Object.entries(images) as Array<[K, string]>) {
    const remote = registryTag(registry, localTag);
    let digest = await existingDigest(registry, localTag);
    if (!digest) {
      options.onProgress?.(`push ${remote}`);
      const t = await runDocker('docker', ['tag', localTag, remote]);
      if (t.code !== 0) throw new ImageBuildError(`image ${name}: could not tag it ${remote}`);
      const tail: string[] = [];
      const r = await runDocker('docker', ['push', remote], undefined, tail);
      digest = digestFromPushOutput(r.stdout);
      if (r.code !== 0 || !digest) {
        throw new ImageBuildError(
          `image ${name}: docker push ${remote} failed (exit ${r.code}); last output:\n${tail.join('\n')}`,
        );
      }
    }
    result[name] = digestReference(remote, digest);
  }
  return result;
}
