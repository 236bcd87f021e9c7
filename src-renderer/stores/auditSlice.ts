import type { StateCreator } from 'zustand';
import type { AuditEventType, AuditPage, AuditQuery, AuditRecord, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { getApi } from '../bridge/apiRegistry.js';
import { errorMessage } from './errors.js';
import type { RbeeState } from './store.js';

export interface AuditFilters {
  eventTypes: AuditEventType[];
  /** Service or hive id substring, e.g. `queen`, `hive:local`. */
  service: string;
  text: string;
  /** `datetime-local` values (local time) or ''. */
  from: string;
  to: string;
}

export type VerifyStatus =
  | { state: 'unknown' }
  | { state: 'running' }
  | { state: 'done'; result: AuditVerifyResult; at: number }
  | { state: 'error'; message: string };

export interface AuditData {
  /** Newest first: the live tail merged with the pages loaded so far, deduplicated by audit_id. */
  records: AuditRecord[];
  filters: AuditFilters;
  nextCursor: string | null;
  /** 'idle' before the first query. */
  status: 'idle' | 'loading' | 'ready' | 'error';
  loadingMore: boolean;
  error: string | null;
  /** Live records that arrived while following was off (shown as a count, merged on resume). */
  pending: AuditRecord[];
  following: boolean;
  verify: VerifyStatus;
  selectedId: string | null;
  /** Sources (hives) whose logs did not answer the last query; the next page retries them. */
  unavailable: string[];
}

export interface AuditSlice {
  audit: AuditData;
  applyAuditRecord: (record: AuditRecord) => void;
  setAuditFilters: (patch: Partial<AuditFilters>) => void;
  loadAudit: () => Promise<void>;
  loadMoreAudit: () => Promise<void>;
  setAuditFollowing: (following: boolean) => void;
  verifyAudit: () => Promise<void>;
  selectAuditRecord: (id: string | null) => void;
}

export const AUDIT_PAGE_SIZE = 50;
/** The live tail keeps at most this many records in memory. */
export const AUDIT_MAX_RECORDS = 2000;

export const emptyAuditFilters: AuditFilters = { eventTypes: [], service: '', text: '', from: '', to: '' };

export const initialAuditData: AuditData = {
  records: [],
  filters: emptyAuditFilters,
  nextCursor: null,
  status: 'idle',
  loadingMore: false,
  error: null,
  pending: [],
  following: true,
  verify: { state: 'unknown' },
  selectedId: null,
  unavailable: [],
};

function unavailableOf(page: AuditPage): string[] {
  const list = (page as AuditPage & { unavailable?: unknown }).unavailable;
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

function parseTime(value: string): number | null {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t : null;
}

/** The same predicate the queen applies to a query, applied to live records client-side. */
export function matchesAuditFilters(record: AuditRecord, filters: AuditFilters): boolean {
  if (filters.eventTypes.length > 0 && !filters.eventTypes.includes(record.event.event_type)) return false;
  if (filters.service) {
    const needle = filters.service.toLowerCase();
    const hay = [record.service_id, record.event.hive_id ?? ''].join(' ').toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  const at = new Date(record.timestamp).getTime();
  const from = parseTime(filters.from);
  const to = parseTime(filters.to);
  if (from !== null && at < from) return false;
  if (to !== null && at > to) return false;
  if (filters.text && !JSON.stringify(record).toLowerCase().includes(filters.text.toLowerCase())) return false;
  return true;
}

export function toAuditQuery(filters: AuditFilters, cursor?: string): AuditQuery {
  const query: AuditQuery = { limit: AUDIT_PAGE_SIZE };
  if (filters.eventTypes.length > 0) query.event_types = filters.eventTypes;
  if (filters.service) query.service_id = filters.service;
  if (filters.text) query.text = filters.text;
  const from = parseTime(filters.from);
  const to = parseTime(filters.to);
  if (from !== null) query.from = new Date(from).toISOString();
  if (to !== null) query.to = new Date(to).toISOString();
  if (cursor) query.cursor = cursor;
  return query;
}

/** Merge newest-first without duplicates; capped. */
export function mergeAuditRecords(existing: AuditRecord[], incoming: AuditRecord[]): AuditRecord[] {
  const seen = new Set<string>();
  const all: AuditRecord[] = [];
  for (const r of [...incoming, ...existing]) {
    if (seen.has(r.audit_id)) continue;
    seen.add(r.audit_id);
    all.push(r);
  }
  all.sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : 0));
  return all.slice(0, AUDIT_MAX_RECORDS);
}

/** Pure: a live record joins the list when it matches the filters (or waits while paused). */
export function reduceAuditRecord(state: AuditData, record: AuditRecord): AuditData {
  if (!matchesAuditFilters(record, state.filters)) return state;
  if (state.records.some((r) => r.audit_id === record.audit_id)) return state;
  if (!state.following) return { ...state, pending: [record, ...state.pending].slice(0, AUDIT_MAX_RECORDS) };
  return { ...state, records: mergeAuditRecords(state.records, [record]) };
}

export const createAuditSlice: StateCreator<RbeeState, [], [], AuditSlice> = (set, get) => {
  let generation = 0;
  return {
    audit: initialAuditData,
    applyAuditRecord: (record) => set((s) => ({ audit: reduceAuditRecord(s.audit, record) })),
    setAuditFilters: (patch) => {
      set((s) => ({ audit: { ...s.audit, filters: { ...s.audit.filters, ...patch } } }));
      void get().loadAudit();
    },
    loadAudit: async () => {
      const mine = ++generation;
      set((s) => ({ audit: { ...s.audit, status: 'loading', error: null } }));
      try {
        const page = await getApi().queryAudit(toAuditQuery(get().audit.filters));
        if (mine !== generation) return;
        // Keep live records that arrived during the query and match the filters.
        const live = get().audit.records.filter((r) => matchesAuditFilters(r, get().audit.filters));
        set((s) => ({
          audit: {
            ...s.audit,
            status: 'ready',
            records: mergeAuditRecords(live, page.records),
            nextCursor: page.next_cursor,
            pending: [],
            unavailable: unavailableOf(page),
          },
        }));
      } catch (error) {
        if (mine !== generation) return;
        set((s) => ({ audit: { ...s.audit, status: 'error', error: errorMessage(error) } }));
      }
    },
    loadMoreAudit: async () => {
      const { nextCursor, filters, loadingMore } = get().audit;
      if (!nextCursor || loadingMore) return;
      const mine = generation;
      set((s) => ({ audit: { ...s.audit, loadingMore: true } }));
      try {
        const page = await getApi().queryAudit(toAuditQuery(filters, nextCursor));
        if (mine !== generation) return;
        set((s) => ({ audit: { ...s.audit, loadingMore: false, records: mergeAuditRecords(s.audit.records, page.records), nextCursor: page.next_cursor, unavailable: unavailableOf(page) } }));
      } catch (error) {
        set((s) => ({ audit: { ...s.audit, loadingMore: false, error: errorMessage(error) } }));
      }
    },
    setAuditFollowing: (following) =>
      set((s) => ({
        audit: {
          ...s.audit,
          following,
          records: following ? mergeAuditRecords(s.audit.records, s.audit.pending) : s.audit.records,
          pending: following ? [] : s.audit.pending,
        },
      })),
    verifyAudit: async () => {
      set((s) => ({ audit: { ...s.audit, verify: { state: 'running' } } }));
      try {
        const result = await getApi().verifyAudit();
        set((s) => ({ audit: { ...s.audit, verify: { state: 'done', result, at: Date.now() } } }));
      } catch (error) {
        set((s) => ({ audit: { ...s.audit, verify: { state: 'error', message: errorMessage(error) } } }));
      }
    },
    selectAuditRecord: (id) => set((s) => ({ audit: { ...s.audit, selectedId: id } })),
  };
};
