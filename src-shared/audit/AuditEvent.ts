/** Audit events (DESIGN §3 "Audit log"). The dashboard renders these; every tier emits them. */
export const AUDIT_EVENT_TYPES = [
  'auth_success',
  'auth_failure',
  'key_created',
  'key_revoked',
  'rate_limited',
  'worker_spawned',
  'worker_ready',
  'worker_crashed',
  'worker_restart_scheduled',
  'worker_restarted',
  'worker_failed',
  'worker_stopped',
  'worker_unhealthy',
  'breaker_opened',
  'breaker_half_open',
  'breaker_closed',
  'breaker_reset',
  'hive_added',
  'hive_connected',
  'hive_lost',
  'hive_removed',
  /** A hive answered the queen's nonce wrongly (or not at all): refused, nothing was sent to it. */
  'hive_impostor',
  'host_key_trusted',
  'host_key_changed',
  'deadline_exceeded',
  'request_rejected',
  'settings_changed',
  'model_downloaded',
  /** A local model copied to a remote hive by SFTP (`reason: failed` when the copy did not finish). */
  'model_uploaded',
  'model_deleted',
  'pool_added',
  'pool_removed',
  'pool_state_changed',
  'audit_integrity_violation',
  'audit_writes_resumed',
  /** A clean shutdown: the last record a writer writes at close. A chain not ending in one was cut or crashed. */
  'audit_sealed',
  /** Another chain's head `(chain, seq, hash)` as this tier saw it (details.chain/seq/hash). */
  'witness',
  /** Old files are about to be deleted by policy: details.first_kept_seq / first_kept_prev_hash. */
  'retention',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type AuditDetailValue = string | number | boolean | null;

export interface AuditEvent {
  event_type: AuditEventType;
  /** Who acted: `token:<fp6>`, `operator`, `hive:<id>`, `system`. Never a raw token. */
  actor?: string;
  client_ip?: string;
  request_id?: string;
  hive_id?: string;
  worker_id?: string;
  path?: string;
  reason?: string;
  details?: Record<string, AuditDetailValue>;
}

/** One line of a `.audit` file. `hash` = SHA-256 over the other fields incl. `prev_hash`. */
export interface AuditRecord {
  audit_id: string;
  /** ISO-8601 UTC. */
  timestamp: string;
  service_id: string;
  event: AuditEvent;
  prev_hash: string;
  hash: string;
  /** The record's place in its chain: 1, 2, 3 … across rotation and restarts. Absent on records written before seq existed. */
  seq?: number;
  /** HMAC-SHA256 (hex) over `hash` with the sealing key, when the writer has one. Not covered by `hash`. */
  mac?: string;
}

/** A chain's newest record as seen by a writer or a witness: one JSON line of `rbee audit head`. */
export interface AuditHead {
  /** The chain's service id (`queen`, `hive:gpu1`, `worker:…`). */
  chain: string;
  seq: number;
  hash: string;
}

/** Verify's verdict for one chain, worst first: a failing one makes `rbee audit verify` exit 1. */
export const AUDIT_VERDICTS = ['EDITED', 'GAP', 'TRUNCATED', 'MISSING', 'UNSEALED-TAIL', 'OK'] as const;
export type AuditVerdict = (typeof AUDIT_VERDICTS)[number];

/** Verdicts that are failures (UNSEALED-TAIL is a warning: a crash, or a cut seal). */
export function isFailingVerdict(verdict: AuditVerdict): boolean {
  return verdict !== 'OK' && verdict !== 'UNSEALED-TAIL';
}

export interface AuditChainVerdict {
  chain: string;
  verdict: AuditVerdict;
  /** Where it was found and why, for a person to read. */
  detail?: string;
  file?: string;
  line?: number;
  audit_id?: string | null;
  /** Records that verified, and the chain's last seq (null: no seq-carrying record). */
  entries: number;
  head_seq: number | null;
  head_hash: string | null;
  /** The highest seq a witness (another chain, or --heads) saw. */
  witnessed_seq?: number;
  /** Set when retention removed the chain's start: the first kept seq. */
  retention_from_seq?: number;
}

/** Where call sites send events. The disabled sink is a no-op; the local one writes the hash chain. */
export interface AuditSink {
  /**
   * Resolves once the event is accepted (critical events: once fsynced). Rejects with a clear error
   * when it cannot be written (queue full, disk low); callers log that, they never crash on it.
   */
  emit(event: AuditEvent): Promise<void>;
}

export const NOOP_AUDIT_SINK: AuditSink = { emit: () => Promise.resolve() };

export interface AuditQuery {
  /** ISO or epoch-ms bounds, inclusive. */
  from?: string;
  to?: string;
  event_types?: AuditEventType[];
  service_id?: string;
  text?: string;
  /** Opaque cursor from the previous page. */
  cursor?: string;
  /** Defaults to 50, at most 500. */
  limit?: number;
}

export interface AuditPage {
  records: AuditRecord[];
  next_cursor: string | null;
}

export type AuditVerifyResult =
  | { ok: true; entries: number; files: number; chains?: AuditChainVerdict[] }
  | {
      ok: false;
      entries: number;
      files: number;
      error: { kind: 'InvalidHash' | 'BrokenChain' | 'Unparsable' | 'BadMac' | 'WitnessMismatch' | AuditVerdict; file: string; line: number; audit_id: string | null };
      chains?: AuditChainVerdict[];
    };

/**
 * Events that must be on disk (fsynced) before `emit` resolves: a security-relevant fact is never
 * acknowledged and then lost in a crash.
 */
export const CRITICAL_AUDIT_EVENT_TYPES: readonly AuditEventType[] = [
  'auth_failure',
  'breaker_opened',
  'host_key_changed',
  'audit_integrity_violation',
];

export function isCriticalAuditEvent(eventType: AuditEventType): boolean {
  return CRITICAL_AUDIT_EVENT_TYPES.includes(eventType);
}

export function isAuditEventType(value: unknown): value is AuditEventType {
  return typeof value === 'string' && (AUDIT_EVENT_TYPES as readonly string[]).includes(value);
}

export type AuditMode = 'disabled' | 'local';

/** SHA-256 hex of nothing before the first entry: the chain's genesis `prev_hash`. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** A page merged from several logs (the queen and its hives) may name sources that did not answer. */
export interface MergedAuditPage extends AuditPage {
  /** Source ids that failed this time; their position is kept, so the next page retries them. */
  unavailable: string[];
}
