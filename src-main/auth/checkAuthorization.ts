import { timingSafeEqual, createHash } from 'node:crypto';
import { tokenFingerprint } from './tokenFingerprint.js';

/** Longest Authorization header we look at; longer ones are rejected unread. */
export const MAX_AUTH_HEADER_BYTES = 8 * 1024;

export type AuthOutcome =
  | { ok: true; fingerprint: string }
  | { ok: false; code: 'MISSING_API_KEY' | 'INVALID_API_KEY'; message: string; fingerprint: string | null };

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Checks an `Authorization` header against the expected token (DESIGN §3 "Auth").
 * `Bearer` is case-sensitive and followed by exactly one space; empty tokens, control characters and
 * headers over 8 KiB are invalid. The comparison hashes both sides first so it runs in constant time
 * regardless of length.
 */
export function checkAuthorization(header: string | string[] | undefined, expectedToken: string): AuthOutcome {
  if (header === undefined) return { ok: false, code: 'MISSING_API_KEY', message: 'Missing API key', fingerprint: null };
  if (Array.isArray(header)) return invalid('Multiple Authorization headers', null);
  if (Buffer.byteLength(header, 'utf8') > MAX_AUTH_HEADER_BYTES) return invalid('Authorization header too large', null);
  if (!header.startsWith('Bearer ')) return invalid('Authorization must be "Bearer <token>"', null);
  const token = header.slice('Bearer '.length);
  if (token.length === 0 || token.trim().length === 0) return invalid('Empty API key', null);
  if (CONTROL_CHARS.test(token)) return invalid('API key contains control characters', null);
  const fingerprint = tokenFingerprint(token);
  const a = createHash('sha256').update(token, 'utf8').digest();
  const b = createHash('sha256').update(expectedToken, 'utf8').digest();
  if (!timingSafeEqual(a, b)) return invalid('Invalid API key', fingerprint);
  return { ok: true, fingerprint };
}

function invalid(message: string, fingerprint: string | null): AuthOutcome {
  return { ok: false, code: 'INVALID_API_KEY', message, fingerprint };
}
