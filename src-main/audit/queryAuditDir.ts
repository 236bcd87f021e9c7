import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditPage, AuditQuery, AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { isAuditEventType } from '../../src-shared/audit/AuditEvent.js';
import { AuditQueryError } from '../../src-shared/audit/AuditErrors.js';
import { AUDIT_FILE_RE, listAuditFiles } from './auditFiles.js';
import { parseRecordLine } from './canonicalJson.js';
import { readLinesBackward } from './lineReaders.js';

export const AUDIT_QUERY_DEFAULT_LIMIT = 50;
export const AUDIT_QUERY_MAX_LIMIT = 500;

/** Where the next page starts: before byte `o` of file `f` (a line start). */
interface DirCursor {
  v: 1;
  f: string;
  o: number;
}

export function encodeAuditCursor(file: string, offset: number): string {
  const c: DirCursor = { v: 1, f: file, o: offset };
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

/** Cursors arrive over HTTP: only a well-formed one naming an audit file in this folder is accepted. */
export function decodeAuditCursor(cursor: string): DirCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new AuditQueryError('invalid audit cursor');
  }
  const c = value as Partial<DirCursor> | null;
  if (!c || c.v !== 1 || typeof c.f !== 'string' || !AUDIT_FILE_RE.test(c.f) || !Number.isSafeInteger(c.o) || (c.o as number) < 0) {
    throw new AuditQueryError('invalid audit cursor');
  }
  return c as DirCursor;
}

/** An inclusive bound: ISO-8601, or epoch milliseconds as digits. */
export function parseAuditTimeBound(value: string | undefined, name: string): number | null {
  if (value === undefined || value === '') return null;
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new AuditQueryError(`invalid '${name}': expected ISO-8601 or epoch milliseconds`);
  return ms;
}

/** Whether `record` passes the query's filters (time, types, service, free text). */
export function auditRecordMatches(
  record: AuditRecord,
  f: { from: number | null; to: number | null; types: Set<string> | null; service: string | null; text: string | null },
): boolean {
  if (f.types && !f.types.has(record.event.event_type)) return false;
  if (f.service !== null && record.service_id !== f.service) return false;
  if (f.from !== null || f.to !== null) {
    const ts = Date.parse(record.timestamp);
    if (f.from !== null && ts < f.from) return false;
    if (f.to !== null && ts > f.to) return false;
  }
  if (f.text !== null) {
    const hay = `${record.service_id} ${record.audit_id} ${JSON.stringify(record.event)}`.toLowerCase();
    if (!hay.includes(f.text)) return false;
  }
  return true;
}

// eslint-disable-next-line no-control-regex
const JSON_ESCAPED = /["\\\u0000-\u001f]/;

/**
 * One page of `dir`'s records, newest first. Files are read backwards in chunks from the cursor's
 * position (memory: one chunk and one page, whatever the log's size); files whose day lies outside
 * the time range are skipped without being opened. An unterminated last line (a write in progress)
 * is not returned. Free text matches case-insensitively in the event, the service id and the audit id.
 */
export async function queryAuditDir(dir: string, query: AuditQuery): Promise<AuditPage> {
  const limit = Math.min(AUDIT_QUERY_MAX_LIMIT, Math.max(1, Math.floor(query.limit ?? AUDIT_QUERY_DEFAULT_LIMIT)));
  const from = parseAuditTimeBound(query.from, 'from');
  const to = parseAuditTimeBound(query.to, 'to');
  if (query.event_types) {
    for (const t of query.event_types) if (!isAuditEventType(t)) throw new AuditQueryError(`unknown event type '${String(t)}'`);
  }
  const text = query.text ? query.text.toLowerCase() : null;
  const filter = {
    from,
    to,
    types: query.event_types && query.event_types.length > 0 ? new Set<string>(query.event_types) : null,
    service: query.service_id ?? null,
    text,
  };
  // A cheap pre-check on the raw line, valid when JSON would write the text unescaped.
  const rawText = text !== null && !JSON_ESCAPED.test(text) ? text : null;
  const fromDay = from !== null ? new Date(from).toISOString().slice(0, 10) : null;
  const toDay = to !== null ? new Date(to).toISOString().slice(0, 10) : null;
  const cursor = query.cursor ? decodeAuditCursor(query.cursor) : null;

  const files = (await listAuditFiles(dir)).reverse();
  const records: AuditRecord[] = [];
  let started = cursor === null;
  for (const file of files) {
    let end: number | undefined;
    if (!started) {
      if (file.name !== (cursor as DirCursor).f) continue;
      started = true;
      end = (cursor as DirCursor).o;
    }
    if (toDay !== null && file.date > toDay) continue;
    if (fromDay !== null && file.date < fromDay) break;
    const path = join(dir, file.name);
    if (end === undefined) end = (await stat(path)).size;
    for await (const l of readLinesBackward(path, { end })) {
      if (rawText !== null && !l.line.toLowerCase().includes(rawText)) continue;
      const record = parseRecordLine(l.line);
      if (!record || !auditRecordMatches(record, filter)) continue;
      records.push(record);
      if (records.length === limit) return { records, next_cursor: encodeAuditCursor(file.name, l.offset) };
    }
  }
  return { records, next_cursor: null };
}
