import { createHash, createHmac } from 'node:crypto';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';

/** A JSON value as it appears in an audit record. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values audit records hold: object members sorted by
 * their names' UTF-16 code units, no whitespace, strings and numbers exactly as ECMAScript's
 * `JSON.stringify` writes them (which is what JCS specifies). Non-finite numbers are not JSON and
 * throw; `undefined` members are left out.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length > 1) keys.sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const v = obj[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: ${typeof value} is not JSON`);
  }
}

/**
 * The bytes a record's hash covers: the UTF-8 encoding of the JCS form of the record without its
 * `hash` member, i.e. `{"audit_id":…,"event":{…},"prev_hash":…,"service_id":…,"timestamp":…}`
 * (members sorted). Any member a line carries besides `hash` is covered, so an added field breaks
 * the hash as surely as an edited one.
 */
export function recordHashInput(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const copy: Record<string, unknown> = { ...record };
  delete copy.hash;
  delete copy.mac; // the MAC is computed over `hash`, so it cannot be inside it
  return canonicalJson(copy);
}

/** `hash` = lowercase hex SHA-256 of `recordHashInput(record)` in UTF-8. */
export function computeRecordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  return createHash('sha256').update(recordHashInput(record), 'utf8').digest('hex');
}

/**
 * The writer's fast path: the hash input and the line of a new record from its event's canonical
 * JSON (computed once). Byte-identical to `recordHashInput`/`computeRecordHash` (members sorted:
 * audit_id, event, prev_hash, service_id, timestamp); `verifyAuditDir` re-derives every hash with the
 * generic form, so any divergence would show as InvalidHash in the tests.
 */
export function sealRecord(
  auditId: string,
  timestamp: string,
  serviceId: string,
  canonicalEvent: string,
  prevHash: string,
  seq: number,
  sealKey: Buffer | null = null,
): { hash: string; line: string; mac: string | null } {
  const id = JSON.stringify(auditId);
  const ts = JSON.stringify(timestamp);
  const svc = JSON.stringify(serviceId);
  const prev = JSON.stringify(prevHash);
  const input = `{"audit_id":${id},"event":${canonicalEvent},"prev_hash":${prev},"seq":${seq},"service_id":${svc},"timestamp":${ts}}`;
  const hash = createHash('sha256').update(input, 'utf8').digest('hex');
  const mac = sealKey ? recordMac(sealKey, hash) : null;
  const macPart = mac ? `,"mac":"${mac}"` : '';
  const line = `{"audit_id":${id},"seq":${seq},"timestamp":${ts},"service_id":${svc},"event":${canonicalEvent},"prev_hash":${prev},"hash":"${hash}"${macPart}}\n`;
  return { hash, line, mac };
}

/** The sealing MAC: HMAC-SHA256 over the record's hash (hex), lowercase hex. */
export function recordMac(key: Buffer, hash: string): string {
  return createHmac('sha256', key).update(hash, 'utf8').digest('hex');
}

/**
 * The line written for a record: its members in the documented order (audit_id, timestamp,
 * service_id, event, prev_hash, hash), the event canonical, no trailing newline.
 */
export function serializeRecordLine(record: AuditRecord): string {
  return (
    `{"audit_id":${JSON.stringify(record.audit_id)},${record.seq === undefined ? '' : `"seq":${record.seq},`}"timestamp":${JSON.stringify(record.timestamp)},` +
    `"service_id":${JSON.stringify(record.service_id)},"event":${canonicalJson(record.event)},` +
    `"prev_hash":${JSON.stringify(record.prev_hash)},"hash":${JSON.stringify(record.hash)}${record.mac === undefined ? '' : `,"mac":${JSON.stringify(record.mac)}`}}`
  );
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A parsed line that has the record's shape (not yet checked against its hash). */
export function isAuditRecordShape(value: unknown): value is AuditRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  const event = r.event;
  return (
    typeof r.audit_id === 'string' &&
    typeof r.timestamp === 'string' &&
    typeof r.service_id === 'string' &&
    typeof r.prev_hash === 'string' &&
    HEX64.test(r.prev_hash) &&
    typeof r.hash === 'string' &&
    HEX64.test(r.hash) &&
    (r.seq === undefined || (typeof r.seq === 'number' && Number.isSafeInteger(r.seq) && r.seq >= 1)) &&
    (r.mac === undefined || (typeof r.mac === 'string' && HEX64.test(r.mac))) &&
    typeof event === 'object' &&
    event !== null &&
    !Array.isArray(event) &&
    typeof (event as Record<string, unknown>).event_type === 'string'
  );
}

/** Parses one line into a record, or null when it is not one (torn, garbage, wrong shape). */
export function parseRecordLine(line: string): AuditRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return isAuditRecordShape(value) ? value : null;
}
