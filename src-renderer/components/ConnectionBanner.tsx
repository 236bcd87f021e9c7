import { useShallow } from 'zustand/react/shallow';
import { formatCountdown } from '../lib/format.js';
import { useRbee } from '../stores/store.js';
import { useNow } from './useNow.js';

const TEXT = { connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…', closed: 'Disconnected' } as const;

/** The event stream's health as a pill in the header (a polite live region). */
export function ConnectionStatus() {
  const state = useRbee((s) => s.connection.state);
  const down = state === 'reconnecting' || state === 'closed';
  return (
    <span className={`conn conn-${state}`} role="status" aria-live="polite" data-testid="connection-state" data-state={state}>
      <span aria-hidden="true">{state === 'open' ? '●' : down ? '✕' : '◌'}</span> {TEXT[state]}
    </span>
  );
}

/** A drop becomes a prominent banner with how long the view has been stale. */
export function DisconnectedBanner() {
  const { state, downSince } = useRbee(useShallow((s) => ({ state: s.connection.state, downSince: s.connection.downSince })));
  const now = useNow(1000, downSince !== null);
  if (!(state === 'reconnecting' || state === 'closed') || downSince === null) return null;
  return (
    <div className="banner banner-warn" data-testid="disconnected-banner">
      <strong>Disconnected from the queen</strong> for {formatCountdown(now - downSince)}. What you see may be stale; the view resyncs
      automatically when the queen is back.
    </div>
  );
}

const AUDIT_REASON = { low_disk: 'the disk is nearly full', io_error: 'a write failed', failed: 'the log failed (restart the queen)' } as const;

/** The audit log cannot write: security events are being refused until it can (docs/audit.md "Audit health"). */
export function AuditDegradedBanner() {
  const degraded = useRbee((s) => s.cluster.auditDegraded);
  if (!degraded) return null;
  return (
    <div className="banner banner-warn" role="alert" data-testid="audit-degraded-banner" data-reason={degraded.reason}>
      <strong>The audit log cannot write</strong>: {AUDIT_REASON[degraded.reason]} (since {new Date(degraded.since).toLocaleString()}). Audit events are
      refused meanwhile{degraded.message ? `: ${degraded.message}` : ''}.
    </div>
  );
}
