import { timingSafeEqual, createHash } from 'node:crypto';
import { fingerprintOfDigest } from './tokenFingerprint.js';

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
  const parsed = parseBearer(header);
  if (!parsed.ok) return parsed;
  if (!timingSafeEqual(parsed.digest, tokenDigest(expectedToken))) return invalid('Invalid API key', parsed.fingerprint);
  return { ok: true, fingerprint: parsed.fingerprint };
}

/** The token with its SHA-256 digest, computed once: it names the token (fingerprint), compares it and finds a scoped key by it. */
export type ParsedBearer = { ok: true; token: string; digest: Buffer; fingerprint: string } | Extract<AuthOutcome, { ok: false }>;

/** The token of a well-formed `Authorization: Bearer <token>` header, or why it is not one. */
export function parseBearer(header: string | string[] | undefined): ParsedBearer {
  if (header === undefined) return { ok: false, code: 'MISSING_API_KEY', message: 'Missing API key', fingerprint: null };
  if (Array.isArray(header)) return invalid('Multiple Authorization headers', null);
  if (Buffer.byteLength(header, 'utf8') > MAX_AUTH_HEADER_BYTES) return invalid('Authorization header too large', null);
  if (!header.startsWith('Bearer ')) return invalid('Authorization must be "Bearer <token>"', null);
  const token = header.slice('Bearer '.length);
  if (token.length === 0 || token.trim().length === 0) return invalid('Empty API key', null);
  if (CONTROL_CHARS.test(token)) return invalid('API key contains control characters', null);
  const digest = tokenDigest(token);
  return { ok: true, token, digest, fingerprint: fingerprintOfDigest(digest) };
}

/** SHA-256 of a token: compared in constant time whatever the lengths, and the scoped keys' lookup key. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function invalid(message: string, fingerprint: string | null): Extract<AuthOutcome, { ok: false }> {
  return { ok: false, code: 'INVALID_API_KEY', message, fingerprint };
}
