import type { ClusterEvent } from '../cluster/ClusterEvent.js';

/** What the operator is told about outside the dashboard (desktop notification, or a toast on the web). */
export type NoticeKind = 'breaker_opened' | 'worker_failed' | 'hive_unreachable';

export interface Notice {
  kind: NoticeKind;
  /** `hive/worker` or the hive id: what the notice is about. */
  subject: string;
  message: string;
}

/** The last known state of each worker and hive: notices fire on transitions, not on every event. */
export interface NoticeBaseline {
  workers: Readonly<Record<string, { state: string; breaker: string }>>;
  hives: Readonly<Record<string, string>>;
}

export const emptyNoticeBaseline: NoticeBaseline = { workers: {}, hives: {} };

/**
 * Pure: the notices one ClusterEvent raises, and the new baseline. A snapshot (first one, or after a
 * reconnect) only sets the baseline, so a breaker already open is not announced again. A worker's
 * breaker is announced when it becomes `open`, a worker when it becomes `failed`, a hive when it
 * becomes `unreachable`: the many `worker_updated` events of one incident raise each notice once.
 */
export function detectNotices(baseline: NoticeBaseline, event: ClusterEvent): { baseline: NoticeBaseline; notices: Notice[] } {
  switch (event.type) {
    case 'snapshot': {
      const workers: Record<string, { state: string; breaker: string }> = {};
      for (const w of event.snapshot.workers) workers[`${w.hive}/${w.id}`] = { state: w.state, breaker: w.breaker.state };
      const hives: Record<string, string> = {};
      for (const h of event.snapshot.hives) hives[h.id] = h.state;
      return { baseline: { workers, hives }, notices: [] };
    }
    case 'worker_updated': {
      const w = event.worker;
      const key = `${w.hive}/${w.id}`;
      const prev = baseline.workers[key];
      const notices: Notice[] = [];
      if (w.breaker.state === 'open' && prev?.breaker !== 'open') {
        const until = w.breaker.opens_until ? ` until ${new Date(w.breaker.opens_until).toLocaleTimeString()}` : '';
        notices.push({
          kind: 'breaker_opened',
          subject: key,
          message: `Breaker opened for ${w.id} (${w.model}) on ${w.hive}: ${w.breaker.failures_in_window} failures, no restarts${until}.`,
        });
      }
      if (w.state === 'failed' && prev?.state !== 'failed') {
        const exit = w.last_exit ? ` Last exit: ${w.last_exit.signal ?? `code ${w.last_exit.code ?? '?'}`}.` : '';
        notices.push({ kind: 'worker_failed', subject: key, message: `Worker ${w.id} (${w.model}) on ${w.hive} failed after ${w.restart_count} restarts.${exit}` });
      }
      return { baseline: { ...baseline, workers: { ...baseline.workers, [key]: { state: w.state, breaker: w.breaker.state } } }, notices };
    }
    case 'worker_removed': {
      const { [`${event.hive_id}/${event.worker_id}`]: _gone, ...workers } = baseline.workers;
      return { baseline: { ...baseline, workers }, notices: [] };
    }
    case 'hive_updated': {
      const h = event.hive;
      const notices: Notice[] =
        h.state === 'unreachable' && baseline.hives[h.id] !== 'unreachable'
          ? [{ kind: 'hive_unreachable', subject: h.id, message: `Hive ${h.id} is unreachable${h.message ? `: ${h.message}` : '.'}` }]
          : [];
      return { baseline: { ...baseline, hives: { ...baseline.hives, [h.id]: h.state } }, notices };
    }
    case 'hive_removed': {
      const { [event.hive_id]: _gone, ...hives } = baseline.hives;
      const workers = Object.fromEntries(Object.entries(baseline.workers).filter(([k]) => !k.startsWith(`${event.hive_id}/`)));
      return { baseline: { workers, hives }, notices: [] };
    }
    default:
      return { baseline, notices: [] };
  }
}
