import { useEffect, useId, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { getApi } from '../bridge/apiRegistry.js';
import { EmptyState, ErrorState, Field, LoadingState } from '../components/states.js';
import { errorMessage } from '../stores/errors.js';
import { toAuditQuery, type AuditFilters } from '../stores/auditSlice.js';
import { useRbee } from '../stores/store.js';

/** One-line human summary of a record's event. */
export function auditSummary(r: AuditRecord): string {
  const e = r.event;
  const parts: string[] = [];
  if (e.actor) parts.push(e.actor);
  if (e.client_ip) parts.push(`from ${e.client_ip}`);
  if (e.worker_id) parts.push(`worker ${e.worker_id}`);
  if (e.hive_id) parts.push(`hive ${e.hive_id}`);
  if (e.path) parts.push(e.path);
  if (e.reason) parts.push(e.reason);
  return parts.join(' · ');
}

const SEVERE: ReadonlySet<AuditEventType> = new Set([
  'auth_failure',
  'worker_crashed',
  'worker_failed',
  'breaker_opened',
  'hive_lost',
  'host_key_changed',
  'audit_integrity_violation',
]);

function VerifyStatusView() {
  const verify = useRbee((s) => s.audit.verify);
  const run = useRbee((s) => s.verifyAudit);
  let text: string;
  let tone = 'muted';
  if (verify.state === 'unknown') text = 'Chain not verified yet.';
  else if (verify.state === 'running') text = 'Verifying the hash chain…';
  else if (verify.state === 'error') {
    text = `Verification failed to run: ${verify.message}`;
    tone = 'bad';
  } else if (verify.result.ok) {
    text = `Chain intact: ${verify.result.entries} entries in ${verify.result.files} files.`;
    tone = 'ok';
  } else {
    const err = verify.result.error;
    text = `Chain BROKEN (${err.kind}) at ${err.file} line ${err.line}${err.audit_id ? `, entry ${err.audit_id}` : ''}.`;
    tone = 'bad';
  }
  // The same verdicts as `rbee audit verify`, one per chain (UNSEALED-TAIL is a warning: a live writer or a crash).
  const chains = verify.state === 'done' ? (verify.result.chains ?? []) : [];
  return (
    <div className="verify">
      <span className={`badge tone-${tone}`} role="status" data-testid="verify-status">
        <span aria-hidden="true">{tone === 'ok' ? '✓' : tone === 'bad' ? '✕' : '?'}</span> {text}
      </span>
      <button type="button" className="small" onClick={() => void run()} disabled={verify.state === 'running'}>
        Verify chain
      </button>
      {chains.length > 0 && (
        <ul className="verify-chains" data-testid="verify-chains">
          {chains.map((c) => (
            <li key={c.chain} data-verdict={c.verdict}>
              <span className={`badge tone-${c.verdict === 'OK' ? 'ok' : c.verdict === 'UNSEALED-TAIL' ? 'muted' : 'bad'}`}>{c.verdict}</span> {c.chain}
              {c.head_seq !== null ? ` · seq ${c.head_seq}` : ''}
              {c.detail ? ` · ${c.detail}` : ''}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Drawer({ record, onClose }: { record: AuditRecord; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (dialog && typeof dialog.showModal === 'function' && !dialog.open) dialog.showModal();
    return () => {
      if (dialog?.open) dialog.close();
      opener?.focus();
    };
  }, []);
  const e = record.event;
  return (
    <dialog
      ref={ref}
      className="drawer"
      aria-labelledby={titleId}
      onCancel={(ev) => {
        ev.preventDefault();
        onClose();
      }}
      data-testid="audit-drawer"
    >
      <div className="drawer-head">
        <h2 id={titleId}>{e.event_type}</h2>
        <button type="button" className="small" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
      <dl className="kv">
        <dt>Time</dt>
        <dd>{new Date(record.timestamp).toLocaleString()}</dd>
        <dt>Service</dt>
        <dd>{record.service_id}</dd>
        <dt>Actor</dt>
        <dd data-testid="audit-actor">{e.actor ?? '—'}</dd>
        <dt>Client IP</dt>
        <dd>{e.client_ip ?? '—'}</dd>
        <dt>Request</dt>
        <dd>{e.request_id ?? '—'}</dd>
        <dt>Hive / worker</dt>
        <dd>
          {e.hive_id ?? '—'} / {e.worker_id ?? '—'}
        </dd>
        <dt>Path</dt>
        <dd>{e.path ?? '—'}</dd>
        <dt>Reason</dt>
        <dd>{e.reason ?? '—'}</dd>
        <dt>Audit id</dt>
        <dd>
          <code>{record.audit_id}</code>
        </dd>
        <dt>Hash</dt>
        <dd>
          <code className="hash">{record.hash}</code>
        </dd>
        <dt>Previous hash</dt>
        <dd>
          <code className="hash">{record.prev_hash}</code>
        </dd>
      </dl>
      <h3 className="small-h">Raw record</h3>
      <pre className="raw" tabIndex={0} role="region" aria-label="Raw audit record">
        {JSON.stringify(record, null, 2)}
      </pre>
    </dialog>
  );
}

async function exportJsonl(filters: AuditFilters): Promise<number> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 200; page += 1) {
    const result = await getApi().queryAudit({ ...toAuditQuery(filters, cursor), limit: 500 });
    records.push(...result.records);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  // Chain order (oldest first), one record per line, as in the `.audit` files.
  records.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  const blob = new Blob(records.map((r) => `${JSON.stringify(r)}\n`), { type: 'application/x-ndjson' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `rbee-audit-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return records.length;
}

function FiltersForm() {
  const id = useId();
  const filters = useRbee((s) => s.audit.filters);
  const setFilters = useRbee((s) => s.setAuditFilters);
  // Text fields apply on submit / blur so each keystroke does not query the queen.
  const [service, setService] = useState(filters.service);
  const [text, setText] = useState(filters.text);
  return (
    <form
      className="filters"
      role="search"
      aria-label="Audit filters"
      onSubmit={(e) => {
        e.preventDefault();
        setFilters({ service, text });
      }}
    >
      <Field label="Event type" htmlFor={`${id}-type`}>
        <select
          id={`${id}-type`}
          value={filters.eventTypes[0] ?? ''}
          onChange={(e) => setFilters({ eventTypes: e.target.value ? [e.target.value as AuditEventType] : [] })}
        >
          <option value="">All event types</option>
          {AUDIT_EVENT_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Service or hive" htmlFor={`${id}-svc`}>
        <input id={`${id}-svc`} value={service} onChange={(e) => setService(e.target.value)} onBlur={() => service !== filters.service && setFilters({ service })} placeholder="queen, hive…" />
      </Field>
      <Field label="Text" htmlFor={`${id}-text`}>
        <input id={`${id}-text`} type="search" value={text} onChange={(e) => setText(e.target.value)} onBlur={() => text !== filters.text && setFilters({ text })} />
      </Field>
      <Field label="From" htmlFor={`${id}-from`}>
        <input id={`${id}-from`} type="datetime-local" step={1} value={filters.from} onChange={(e) => setFilters({ from: e.target.value })} />
      </Field>
      <Field label="To" htmlFor={`${id}-to`}>
        <input id={`${id}-to`} type="datetime-local" step={1} value={filters.to} onChange={(e) => setFilters({ to: e.target.value })} />
      </Field>
      <div className="form-actions">
        <button type="submit" className="small">
          Apply
        </button>
        <button
          type="button"
          className="small"
          onClick={() => {
            setService('');
            setText('');
            setFilters({ eventTypes: [], service: '', text: '', from: '', to: '' });
          }}
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}

export function AuditView() {
  const audit = useRbee(
    useShallow((s) => ({
      records: s.audit.records,
      status: s.audit.status,
      error: s.audit.error,
      nextCursor: s.audit.nextCursor,
      loadingMore: s.audit.loadingMore,
      following: s.audit.following,
      pending: s.audit.pending.length,
      selectedId: s.audit.selectedId,
      filters: s.audit.filters,
      unavailable: s.audit.unavailable,
    })),
  );
  const { loadAudit, loadMoreAudit, setAuditFollowing, selectAuditRecord } = useRbee(
    useShallow((s) => ({ loadAudit: s.loadAudit, loadMoreAudit: s.loadMoreAudit, setAuditFollowing: s.setAuditFollowing, selectAuditRecord: s.selectAuditRecord })),
  );
  const [exportMsg, setExportMsg] = useState<string | null>(null);
  useEffect(() => {
    if (useRbee.getState().audit.status === 'idle') void loadAudit();
  }, [loadAudit]);
  const selected = audit.selectedId ? audit.records.find((r) => r.audit_id === audit.selectedId) : undefined;
  const filtered = audit.filters.eventTypes.length > 0 || audit.filters.service || audit.filters.text || audit.filters.from || audit.filters.to;

  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h" tabIndex={-1}>
        Audit log
      </h1>
      <div className="toolbar">
        <VerifyStatusView />
        <label className="check">
          <input type="checkbox" checked={audit.following} onChange={(e) => setAuditFollowing(e.target.checked)} /> Live tail
          {audit.pending > 0 ? <span className="badge tone-info">{audit.pending} new</span> : null}
        </label>
        <button
          type="button"
          className="small"
          onClick={() => {
            setExportMsg('Exporting…');
            exportJsonl(audit.filters).then(
              (n) => setExportMsg(`Exported ${n} records as JSONL.`),
              (e: unknown) => setExportMsg(`Export failed: ${errorMessage(e)}`),
            );
          }}
        >
          Export JSONL
        </button>
        {exportMsg ? (
          <span role="status" className="sub">
            {exportMsg}
          </span>
        ) : null}
      </div>
      <FiltersForm />
      {audit.unavailable.length > 0 ? (
        <p className="banner banner-warn" role="status">
          Not answering right now, so missing from this page: {audit.unavailable.join(', ')}. Their events appear once they are back.
        </p>
      ) : null}
      {audit.status === 'error' && audit.records.length === 0 ? (
        <ErrorState title="Could not load the audit log" message={audit.error ?? ''} onRetry={() => void loadAudit()} />
      ) : (audit.status === 'loading' || audit.status === 'idle') && audit.records.length === 0 ? (
        <LoadingState label="Loading audit events…" />
      ) : audit.records.length === 0 ? (
        <EmptyState title={filtered ? 'No audit events match these filters' : 'No audit events yet'}>
          <p>
            {filtered
              ? 'Widen the time range or clear the filters.'
              : 'Events appear here live as they happen. If the audit log is disabled, turn on local mode in Settings.'}
          </p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="audit responsive" aria-busy={audit.status === 'loading'}>
            <caption className="visually-hidden">Audit events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Service</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {audit.records.map((r) => (
                <tr key={r.audit_id} data-event-type={r.event.event_type} data-audit-id={r.audit_id}>
                  <td data-label="Time">
                    <time dateTime={r.timestamp}>{new Date(r.timestamp).toLocaleString()}</time>
                  </td>
                  <td data-label="Event">
                    <button type="button" className="linkish" onClick={() => selectAuditRecord(r.audit_id)} aria-label={`Details of ${r.event.event_type} at ${r.timestamp}`}>
                      <span className={`badge ${SEVERE.has(r.event.event_type) ? 'tone-bad' : 'tone-muted'}`}>{r.event.event_type}</span>
                    </button>
                  </td>
                  <td data-label="Service">{r.service_id}</td>
                  <td data-label="Details" className="audit-summary">
                    {auditSummary(r)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {audit.error && audit.records.length > 0 ? (
        <p className="error-text" role="alert">
          {audit.error}
        </p>
      ) : null}
      <div className="pager">
        {audit.nextCursor ? (
          <button type="button" onClick={() => void loadMoreAudit()} disabled={audit.loadingMore}>
            {audit.loadingMore ? 'Loading…' : 'Load older events'}
          </button>
        ) : audit.records.length > 0 ? (
          <span className="sub">Beginning of the log reached.</span>
        ) : null}
      </div>
      {selected ? <Drawer record={selected} onClose={() => selectAuditRecord(null)} /> : null}
    </section>
  );
}
