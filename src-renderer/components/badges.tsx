import type { BreakerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { HiveState } from '../../src-shared/cluster/HiveInfo.js';
import { formatCountdown } from '../lib/format.js';

/** Glyph + text + colour: meaning never rests on colour alone. */
const WORKER_STATE: Record<WorkerState, { label: string; glyph: string; tone: string }> = {
  loading: { label: 'loading', glyph: '◌', tone: 'info' },
  idle: { label: 'ready · idle', glyph: '●', tone: 'ok' },
  busy: { label: 'ready · busy', glyph: '◉', tone: 'ok' },
  stopping: { label: 'stopping', glyph: '◍', tone: 'muted' },
  stopped: { label: 'stopped', glyph: '■', tone: 'muted' },
  crashed: { label: 'crashed', glyph: '✕', tone: 'bad' },
  backoff: { label: 'backoff', glyph: '↻', tone: 'warn' },
  failed: { label: 'failed', glyph: '⊘', tone: 'bad' },
  unhealthy: { label: 'unhealthy', glyph: '!', tone: 'warn' },
};

export function workerStateLabel(state: WorkerState): string {
  return WORKER_STATE[state].label;
}

export function WorkerStateBadge({ state }: { state: WorkerState }) {
  const s = WORKER_STATE[state];
  return (
    <span className={`badge tone-${s.tone}`} data-state={state}>
      <span aria-hidden="true">{s.glyph}</span> {s.label}
    </span>
  );
}

const HIVE_STATE: Record<HiveState, { glyph: string; tone: string }> = {
  starting: { glyph: '◌', tone: 'info' },
  online: { glyph: '●', tone: 'ok' },
  unreachable: { glyph: '!', tone: 'warn' },
  stopped: { glyph: '■', tone: 'muted' },
  failed: { glyph: '⊘', tone: 'bad' },
};

export function HiveStateBadge({ state }: { state: HiveState }) {
  const s = HIVE_STATE[state];
  return (
    <span className={`badge tone-${s.tone}`} data-state={state}>
      <span aria-hidden="true">{s.glyph}</span> {state}
    </span>
  );
}

/** Breaker badge; an open breaker shows a live countdown to half-open (`now` in server time). */
export function BreakerBadge({ breaker, now }: { breaker: BreakerInfo; now: number }) {
  if (breaker.state === 'closed') {
    return (
      <span className="badge tone-ok" data-breaker="closed">
        <span aria-hidden="true">✓</span> closed
        {breaker.failures_in_window > 0 ? <span className="sub"> · {breaker.failures_in_window} recent</span> : null}
      </span>
    );
  }
  if (breaker.state === 'half_open') {
    return (
      <span className="badge tone-warn" data-breaker="half_open">
        <span aria-hidden="true">◐</span> half-open · trial start
      </span>
    );
  }
  const remaining = breaker.opens_until === null ? null : breaker.opens_until - now;
  return (
    <span className="badge tone-bad" data-breaker="open">
      <span aria-hidden="true">⊘</span> open
      {remaining !== null ? (
        <span className="countdown" data-testid="breaker-countdown">
          {' '}
          · {remaining > 0 ? `half-open in ${formatCountdown(remaining)}` : 'half-open due'}
        </span>
      ) : null}
    </span>
  );
}
