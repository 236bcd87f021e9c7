import { createHash } from 'node:crypto';

/** A token is only ever named by this: `token:<first 6 hex of SHA-256>` ("test" → `token:9f86d0`). */
export function tokenFingerprint(token: string): string {
  return fingerprintOfDigest(createHash('sha256').update(token, 'utf8').digest());
}

/** The same name from a token's SHA-256 digest already computed (the auth check hashes each token once). */
export function fingerprintOfDigest(digest: Buffer): string {
  return `token:${digest.toString('hex', 0, 3)}`;
}
