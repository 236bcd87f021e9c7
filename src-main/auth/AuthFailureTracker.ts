import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { AuditCoalescer } from '../audit/AuditCoalescer.js';

export interface AuthFailureTrackerOptions {
  audit: AuditSink;
  /** Failures from one IP within `windowMs` before it is cooled down. Defaults to 50 per 10 s. */
  maxFailures?: number;
  windowMs?: number;
  /** How long an IP's failing requests get 429 once over the limit. Defaults to 30 s. */
  coolDownMs?: number;
  /** At most one `auth_failure` record per (ip, fingerprint, reason) per this window. Defaults to 10 s. */
  auditWindowMs?: number;
  /** Distinct (fingerprint, reason) records per IP per audit window before they fold into one. Defaults to 3. */
  distinctPerIp?: number;
  now?: () => number;
  onAuditError?: (error: unknown) => void;
}

export interface AuthFailure {
  ip: string;
  /** `token:<fp6>` or null when no token was readable. */
  fingerprint: string | null;
  reason: string;
  path: string;
  requestId: string;
}

interface IpState {
  failures: number[];
  coolUntil: number;
}

/**
 * Counts credential failures per client IP and keeps the audit log from flooding.
 *
 * - An IP with more than `maxFailures` failures in `windowMs` is cooled down: its *failing* requests
 *   get 429 until `coolUntil` (a valid key from the same IP is never affected; the check runs after
 *   the credentials failed).
 * - Audit coalescing: the first failure of a (ip, fingerprint, reason) key is written at once; repeats
 *   within `auditWindowMs` become one record with `details.count` when the window closes. Past
 *   `distinctPerIp` keys in a window, an IP's failures fold into one `token:*` key, so a loop of
 *   random tokens cannot write one record each either.
 *
 * The windows themselves are the audit layer's `AuditCoalescer`; this class only picks the key.
 */
export class AuthFailureTracker {
  private readonly ips = new Map<string, IpState>();
  private readonly coalescer: AuditCoalescer;
  /** Distinct record keys per IP in the current audit window (past `distinctPerIp` they fold). */
  private readonly keysPerIp = new Map<string, { since: number; keys: Set<string> }>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly coolDownMs: number;
  private readonly auditWindowMs: number;
  private readonly distinctPerIp: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthFailureTrackerOptions) {
    this.maxFailures = options.maxFailures ?? 50;
    this.windowMs = options.windowMs ?? 10_000;
    this.coolDownMs = options.coolDownMs ?? 30_000;
    this.auditWindowMs = options.auditWindowMs ?? 10_000;
    this.distinctPerIp = options.distinctPerIp ?? 3;
    this.now = options.now ?? Date.now;
    this.coalescer = new AuditCoalescer({ audit: options.audit, windowMs: this.auditWindowMs, now: this.now, onError: options.onAuditError });
  }

  /** Milliseconds the IP's failing requests are still refused with 429, or 0. */
  coolingDownFor(ip: string): number {
    const state = this.ips.get(ip);
    return state ? Math.max(0, state.coolUntil - this.now()) : 0;
  }

  /** Records a failure; returns the remaining cool-down (0 = answer 401 as usual). */
  fail(failure: AuthFailure): number {
    const now = this.now();
    const state = this.ips.get(failure.ip) ?? { failures: [], coolUntil: 0 };
    this.ips.set(failure.ip, state);
    state.failures = state.failures.filter((at) => now - at < this.windowMs);
    state.failures.push(now);
    if (state.failures.length > this.maxFailures) {
      state.coolUntil = now + this.coolDownMs;
      state.failures = [];
    }
    if (this.ips.size > 10_000) this.forgetOldest();
    this.audit(failure);
    return Math.max(0, state.coolUntil - now);
  }

  /** Writes the open windows' repeat counts (at shutdown). */
  flush(): void {
    this.coalescer.close();
  }

  private audit(failure: AuthFailure): void {
    const now = this.now();
    const exactKey = `${failure.ip}|${failure.fingerprint ?? 'anonymous'}|${failure.reason}`;
    let seen = this.keysPerIp.get(failure.ip);
    if (!seen || now - seen.since >= this.auditWindowMs) {
      seen = { since: now, keys: new Set() };
      this.keysPerIp.set(failure.ip, seen);
      if (this.keysPerIp.size > 10_000) this.keysPerIp.delete(this.keysPerIp.keys().next().value as string);
    }
    const fold = !seen.keys.has(exactKey) && seen.keys.size >= this.distinctPerIp;
    if (!fold) seen.keys.add(exactKey);
    const fingerprint = fold ? 'token:*' : (failure.fingerprint ?? 'anonymous');
    this.coalescer.offer(fold ? `${failure.ip}|token:*|${failure.reason}` : exactKey, {
      event_type: 'auth_failure',
      actor: fingerprint,
      client_ip: failure.ip,
      request_id: failure.requestId,
      path: failure.path,
      reason: failure.reason,
    });
  }

  private forgetOldest(): void {
    const now = this.now();
    for (const [ip, state] of this.ips) {
      if (state.coolUntil <= now && state.failures.every((at) => now - at >= this.windowMs)) this.ips.delete(ip);
    }
  }
}
