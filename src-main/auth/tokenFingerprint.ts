import { createHash } from 'node:crypto';

/** A token is only ever named by this: `token:<first 6 hex of SHA-256>` ("test" → `token:9f86d0`). */
export function tokenFingerprint(token: string): string {
  return `token:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 6)}`;
}
