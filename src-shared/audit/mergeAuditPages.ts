import type { AuditPage, AuditQuery, AuditRecord, MergedAuditPage } from './AuditEvent.js';
import { AuditQueryError } from './AuditErrors.js';

/** One log to merge: the queen's own, or a hive's (queried over its API). */
export interface AuditSource {
  id: string;
  query(query: AuditQuery): Promise<AuditPage>;
}

/** Per source: re-read from cursor `c`, skipping `k` records already served; `d`: exhausted. */
interface SourcePosition {
  c: string | null;
  k: number;
  d?: 1;
}

interface MergedCursor {
  v: 1;
  s: Record<string, SourcePosition>;
}

interface Candidate {
  record: AuditRecord;
  /** The position that starts at this record (so it is served next time if not taken now). */
  at: SourcePosition;
}

const MAX_PAGE = 500;
const MAX_FETCHES_PER_SOURCE = 4;

/** Newer first; equal timestamps: by service id, then audit id (a stable total order across sources). */
export function compareAuditRecordsNewestFirst(a: AuditRecord, b: AuditRecord): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? 1 : -1;
  if (a.service_id !== b.service_id) return a.service_id < b.service_id ? -1 : 1;
  return a.audit_id < b.audit_id ? -1 : a.audit_id > b.audit_id ? 1 : 0;
}

/**
 * k-way merge of per-source lists, each already newest first: takes heads only, so every source's own
 * order is kept even where its clock was not monotonic. Returns at most `limit` records and how many
 * were taken from each list.
 */
export function mergeAuditPages(lists: readonly (readonly AuditRecord[])[], limit: number): { records: AuditRecord[]; taken: number[] } {
  const heads = lists.map(() => 0);
  const records: AuditRecord[] = [];
  while (records.length < limit) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const r = (lists[i] as readonly AuditRecord[])[heads[i] as number];
      if (r === undefined) continue;
      const b = best === -1 ? undefined : (lists[best] as readonly AuditRecord[])[heads[best] as number];
      if (b === undefined || compareAuditRecordsNewestFirst(r, b) < 0) best = i;
    }
    if (best === -1) break;
    records.push((lists[best] as readonly AuditRecord[])[heads[best] as number] as AuditRecord);
    heads[best] = (heads[best] as number) + 1;
  }
  return { records, taken: heads };
}

/**
 * One newest-first page over several logs (the queen's control API: its own log plus each hive's).
 * The cursor is opaque and carries every source's position; a source that fails is named in
 * `unavailable` and keeps its position, so the next page asks it again.
 */
export async function queryAuditSources(sources: readonly AuditSource[], query: AuditQuery): Promise<MergedAuditPage> {
  const limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(query.limit ?? 50)));
  const state = query.cursor ? decodeMergedCursor(query.cursor) : { v: 1 as const, s: {} };
  const unavailable: string[] = [];
  const lists: Candidate[][] = [];
  const ends: SourcePosition[] = [];
  await Promise.all(
    sources.map(async (source, i) => {
      const start: SourcePosition = state.s[source.id] ?? { c: null, k: 0 };
      const list: Candidate[] = [];
      lists[i] = list;
      ends[i] = start;
      if (start.d) return;
      let pos = start;
      try {
        for (let fetches = 0; fetches < MAX_FETCHES_PER_SOURCE && list.length < limit; fetches++) {
          const page = await source.query({ ...query, cursor: pos.c ?? undefined, limit: Math.min(MAX_PAGE, pos.k + limit) });
          page.records.slice(pos.k).forEach((record, j) => list.push({ record, at: { c: pos.c, k: pos.k + j } }));
          if (page.next_cursor === null || page.records.length === 0) {
            pos = { c: null, k: 0, d: 1 };
            break;
          }
          pos = { c: page.next_cursor, k: 0 };
        }
        ends[i] = pos;
      } catch {
        unavailable.push(source.id);
        lists[i] = [];
        ends[i] = start;
      }
    }),
  );
  const { records, taken } = mergeAuditPages(
    lists.map((l) => l.map((c) => c.record)),
    limit,
  );
  const next: MergedCursor = { v: 1, s: {} };
  let more = false;
  sources.forEach((source, i) => {
    const list = lists[i] as Candidate[];
    const t = taken[i] as number;
    const pos = t < list.length ? (list[t] as Candidate).at : (ends[i] as SourcePosition);
    next.s[source.id] = pos;
    if (!pos.d) more = true;
  });
  return { records, next_cursor: more ? encodeMergedCursor(next) : null, unavailable };
}

// ---- cursor encoding: base64url of the URI-encoded JSON (ASCII only, no Buffer/btoa needed) -------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function toBase64Url(ascii: string): string {
  let out = '';
  for (let i = 0; i < ascii.length; i += 3) {
    const a = ascii.charCodeAt(i);
    const b = i + 1 < ascii.length ? ascii.charCodeAt(i + 1) : -1;
    const c = i + 2 < ascii.length ? ascii.charCodeAt(i + 2) : -1;
    const n = (a << 16) | ((b < 0 ? 0 : b) << 8) | (c < 0 ? 0 : c);
    out += B64[(n >> 18) & 63] + (B64[(n >> 12) & 63] as string);
    if (b >= 0) out += B64[(n >> 6) & 63];
    if (c >= 0) out += B64[n & 63];
  }
  return out;
}

function fromBase64Url(s: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new AuditQueryError('invalid audit cursor');
  let out = '';
  for (let i = 0; i < s.length; i += 4) {
    const chunk = s.slice(i, i + 4);
    let n = 0;
    for (let j = 0; j < 4; j++) n = (n << 6) | (j < chunk.length ? B64.indexOf(chunk[j] as string) : 0);
    out += String.fromCharCode((n >> 16) & 255);
    if (chunk.length > 2) out += String.fromCharCode((n >> 8) & 255);
    if (chunk.length > 3) out += String.fromCharCode(n & 255);
  }
  return out;
}

function encodeMergedCursor(c: MergedCursor): string {
  return `m${toBase64Url(encodeURIComponent(JSON.stringify(c)))}`;
}

function decodeMergedCursor(cursor: string): MergedCursor {
  let value: unknown;
  try {
    if (!cursor.startsWith('m')) throw new Error('prefix');
    value = JSON.parse(decodeURIComponent(fromBase64Url(cursor.slice(1))));
  } catch {
    throw new AuditQueryError('invalid audit cursor');
  }
  const c = value as Partial<MergedCursor> | null;
  if (!c || c.v !== 1 || typeof c.s !== 'object' || c.s === null) throw new AuditQueryError('invalid audit cursor');
  for (const p of Object.values(c.s) as Partial<SourcePosition>[]) {
    if (typeof p !== 'object' || p === null || !(p.c === null || typeof p.c === 'string') || !Number.isSafeInteger(p.k) || (p.k as number) < 0) {
      throw new AuditQueryError('invalid audit cursor');
    }
  }
  return c as MergedCursor;
}
