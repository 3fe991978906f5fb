/**
 * SCRAM-SHA-256 verifiers (RFC 5802/7677, PostgreSQL's stored format), so that a role's
 * password is sent to PostgreSQL already hashed and checked without reading it back.
 * Passwords are expected in ASCII/normalised form (no SASLprep here).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

const ITERATIONS = 4096;

function keys(
  password: string,
  salt: Buffer,
  iterations: number,
): { stored: Buffer; server: Buffer } {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const client = createHmac('sha256', salted).update('Client Key').digest();
  return {
    stored: createHash('sha256').update(client).digest(),
    server: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  const { stored, server } = keys(password, salt, ITERATIONS);
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${stored.toString('base64')}:${server.toString('base64')}`;
}

/** Whether `verifier` (from pg_authid.rolpassword) was made from `password`. */
export function scramMatches(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const { stored, server } = keys(password, Buffer.from(m[2]!, 'base64'), Number(m[1]));
  const wantStored = Buffer.from(m[3]!, 'base64');
  const wantServer = Buffer.from(m[4]!, 'base64');
  return (
    wantStored.length === stored.length &&
    wantServer.length === server.length &&
    timingSafeEqual(wantStored, stored) &&
    timingSafeEqual(wantServer, server)
  );
}
