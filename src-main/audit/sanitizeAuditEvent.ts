import { createHash } from 'node:crypto';
import type { AuditDetailValue, AuditEvent } from '../../src-shared/audit/AuditEvent.js';
import { isAuditEventType } from '../../src-shared/audit/AuditEvent.js';
import { AuditInvalidEventError } from '../../src-shared/audit/AuditErrors.js';

/** Caps, in UTF-16 code units. Longer strings are cut and end in `…[+N]` (N = characters cut). */
export const AUDIT_FIELD_LIMITS = {
  actor: 128,
  client_ip: 64,
  request_id: 128,
  hive_id: 128,
  worker_id: 128,
  path: 512,
  reason: 1024,
  detailKey: 64,
  detailValue: 1024,
  detailCount: 32,
} as const;

export interface SanitizeOptions {
  /** Secrets this process knows (its own and its peers' tokens): any occurrence becomes `token:<fp6>`. */
  secrets?: () => readonly string[];
}

const FP_RE = /^token:[0-9a-f]{6}$/;
/** `Bearer <credential>` anywhere in a string (header values pasted into a reason, say). */
const BEARER_RE = /\b(Bearer)\s+([^\s"',;]+)/gi;
/** Detail keys whose string values are credentials by name. */
const SECRET_KEY_RE = /(^|_|-)(token|authorization|api[_-]?key|secret|password|passphrase|cookie|bearer)s?($|_|-)/i;
/** An actor that is a bare credential-looking string (no `kind:` prefix, no spaces). */
const RAW_CREDENTIAL_RE = /^[A-Za-z0-9_\-.~+/=]{16,}$/;
// C0/C1 controls and DEL (newlines included: a record is one line and displays as one).
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/g;
/** Unpaired UTF-16 surrogates (not encodable as UTF-8): replaced by U+FFFD. */
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const NEEDS_SCRUB_RE = /[^\x20-\x7e]|bearer/i;
const KEY_RE = /[^A-Za-z0-9_.-]/g;

/** `token:<first 6 hex of SHA-256>`, the only way a token may appear in a record. */
export function auditTokenFingerprint(token: string): string {
  return `token:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 6)}`;
}

function cap(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = value.length - max;
  const suffix = `…[+${cut}]`;
  return value.slice(0, Math.max(0, max - suffix.length)).replace(LONE_SURROGATE_RE, '\uFFFD') + suffix;
}

/** Secrets → `token:<fp6>`, `Bearer <x>` → `Bearer token:<fp6>`, controls → U+FFFD: the audit log's redaction, for any text. */
export function scrubSecrets(value: string, secrets: readonly string[]): string {
  let out = value;
  for (const secret of secrets) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(auditTokenFingerprint(secret));
  }
  // Fast path: printable ASCII without the word "bearer" needs nothing else.
  if (!NEEDS_SCRUB_RE.test(out)) return out;
  out = out.replace(LONE_SURROGATE_RE, '\uFFFD').replace(CONTROL_RE, '\uFFFD');
  BEARER_RE.lastIndex = 0;
  return out.replace(BEARER_RE, (_m, word: string, credential: string) =>
    FP_RE.test(credential) ? `${word} ${credential}` : `${word} ${auditTokenFingerprint(credential)}`,
  );
}

function text(value: unknown, max: number, secrets: readonly string[]): string | undefined {
  if (value === undefined || value === null) return undefined;
  return cap(scrubSecrets(typeof value === 'string' ? value : String(value), secrets), max);
}

function detailValue(key: string, value: unknown, secrets: readonly string[]): AuditDetailValue | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const s = typeof value === 'string' ? value : safeString(value);
  if (SECRET_KEY_RE.test(key) && !FP_RE.test(s)) return auditTokenFingerprint(s);
  return cap(scrubSecrets(s, secrets), AUDIT_FIELD_LIMITS.detailValue);
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Returns the event as it is written: only the known members, strings capped and stripped of control
 * characters, credentials replaced by their fingerprints. Throws `AuditInvalidEventError` for an
 * unknown `event_type` (a programming error, not data).
 */
export function sanitizeAuditEvent(event: AuditEvent, options: SanitizeOptions = {}): AuditEvent {
  if (typeof event !== 'object' || event === null || !isAuditEventType(event.event_type)) {
    throw new AuditInvalidEventError(`unknown audit event_type: ${String((event as { event_type?: unknown } | null)?.event_type)}`);
  }
  const secrets = options.secrets ? options.secrets() : [];
  const out: AuditEvent = { event_type: event.event_type };
  let actor = text(event.actor, AUDIT_FIELD_LIMITS.actor, secrets);
  if (actor !== undefined && RAW_CREDENTIAL_RE.test(actor)) actor = auditTokenFingerprint(actor);
  if (actor !== undefined) out.actor = actor;
  const fields = ['client_ip', 'request_id', 'hive_id', 'worker_id', 'path', 'reason'] as const;
  for (const field of fields) {
    const v = text(event[field], AUDIT_FIELD_LIMITS[field], secrets);
    if (v !== undefined) out[field] = v;
  }
  if (event.details && typeof event.details === 'object') {
    const details: Record<string, AuditDetailValue> = {};
    let count = 0;
    for (const [rawKey, rawValue] of Object.entries(event.details)) {
      if (count >= AUDIT_FIELD_LIMITS.detailCount) {
        details._truncated = true;
        break;
      }
      const key = rawKey.replace(KEY_RE, '_').slice(0, AUDIT_FIELD_LIMITS.detailKey) || '_';
      const v = detailValue(key, rawValue, secrets);
      if (v === undefined) continue;
      details[key] = v;
      count++;
    }
    out.details = details;
  }
  return out;
}
