import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/**
 * Reads a secret from a file (a Swarm secret under /run/secrets). The value is returned,
 * never logged; a trailing newline (as `echo` leaves it) is dropped.
 */
export async function readSecretFile(path: string): Promise<string> {
  const value = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (value.length === 0) throw new Error(`the secret file ${path} is empty`);
  return value;
}

/** Constant-time comparison of two strings of any length (both are hashed first). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/** `sha256=<hex>` as GitHub sends it in X-Hub-Signature-256. */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function verifySignature(
  secret: string,
  body: Buffer,
  header: string | string[] | undefined,
): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  return safeEqual(signBody(secret, body), header);
}

/** Checks `Authorization: Bearer <token>`. */
export function verifyBearer(token: string, header: string | undefined): boolean {
  if (typeof header !== 'string') return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m !== null && safeEqual(token, m[1] ?? '');
}
