import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HIVE_NONCE_RE, HiveHelloSchema } from '../../src-shared/hive/hiveApi.js';

/**
 * The queen's proof that the process answering on a hive's socket is that hive: it sends a fresh
 * nonce, the hive answers HMAC-SHA256(key = its token, nonce). The exchange reveals neither the
 * token nor anything reusable (a new nonce every time), and the queen sends nothing else (no
 * bearer token, no request) to a hive that has not passed it.
 */

/** The hive's answer: hex HMAC-SHA256 of the nonce, keyed by the hive token. */
export function answerHiveNonce(token: string, nonce: string): string {
  return createHmac('sha256', token).update(nonce, 'utf8').digest('hex');
}

export function newHiveNonce(): string {
  return randomBytes(32).toString('hex');
}

export function isValidHiveNonce(nonce: unknown): nonce is string {
  return typeof nonce === 'string' && HIVE_NONCE_RE.test(nonce);
}

/** Constant-time check of an answer; anything but a 64-hex string is simply wrong. */
export function checkHiveAnswer(token: string, nonce: string, answer: unknown): boolean {
  if (typeof answer !== 'string' || !/^[0-9a-f]{64}$/.test(answer)) return false;
  return timingSafeEqual(Buffer.from(answerHiveNonce(token, nonce), 'hex'), Buffer.from(answer, 'hex'));
}

export type HiveProofVerdict =
  | { ok: true }
  | { ok: false; reason: 'wrong_answer' | 'no_answer'; detail: string };

/**
 * Runs the exchange over whatever transport `get` uses (the SSH tunnel, loopback). `get` must NOT
 * attach the hive's bearer token: the peer is not trusted yet.
 */
export async function verifyHiveProof(
  token: string,
  get: (path: string) => Promise<{ status: number; json(): Promise<unknown> }>,
  helloPath: string,
): Promise<HiveProofVerdict> {
  const nonce = newHiveNonce();
  let status: number;
  let body: unknown;
  try {
    const res = await get(`${helloPath}?nonce=${nonce}`);
    status = res.status;
    body = await res.json().catch(() => undefined);
  } catch (error) {
    return { ok: false, reason: 'no_answer', detail: `the handshake request failed: ${(error as Error).message}` };
  }
  if (status !== 200) return { ok: false, reason: 'no_answer', detail: `the handshake was answered with HTTP ${status}` };
  const parsed = HiveHelloSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: 'no_answer', detail: 'the handshake answer has no hmac' };
  if (!checkHiveAnswer(token, nonce, parsed.data.hmac))
    return { ok: false, reason: 'wrong_answer', detail: 'the answer to the nonce does not match the hive token' };
  return { ok: true };
}
