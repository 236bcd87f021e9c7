import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import type { WorkerState } from '../../../src-shared/cluster/WorkerInfo.js';

export type OverallHealth = 'ready' | 'degraded' | 'down';

export interface ClusterHealth {
  overall: OverallHealth;
  hivesOnline: number;
  hivesTotal: number;
  workersReady: number;
  workersTotal: number;
  /** Workers per state, for the menu summary. */
  byState: Partial<Record<WorkerState, number>>;
  /** One line for the tray tooltip. */
  tooltip: string;
}

/** States an operator chose (stopped) or that are on their way (loading): not a fault. */
const NEUTRAL: ReadonlySet<WorkerState> = new Set(['stopped', 'stopping', 'loading']);
const READY: ReadonlySet<WorkerState> = new Set(['idle', 'busy']);

/**
 * The tray's verdict on a snapshot:
 * - `down`: nothing can serve an inference (no ready worker, or no hive online);
 * - `ready`: every hive online and no worker in a fault state (crashed, backoff, failed, unhealthy);
 * - `degraded`: serving, but something is wrong.
 */
export function clusterHealth(snapshot: ClusterSnapshot): ClusterHealth {
  const hivesOnline = snapshot.hives.filter((h) => h.state === 'online').length;
  const byState: Partial<Record<WorkerState, number>> = {};
  for (const w of snapshot.workers) byState[w.state] = (byState[w.state] ?? 0) + 1;
  const workersReady = snapshot.workers.filter((w) => READY.has(w.state)).length;
  const faulty = snapshot.workers.filter((w) => !READY.has(w.state) && !NEUTRAL.has(w.state)).length;
  const hivesDown = snapshot.hives.length - hivesOnline;

  let overall: OverallHealth;
  if (workersReady === 0 || hivesOnline === 0) overall = 'down';
  else if (faulty > 0 || hivesDown > 0) overall = 'degraded';
  else overall = 'ready';

  const parts = [`${workersReady}/${snapshot.workers.length} workers ready`, `${hivesOnline}/${snapshot.hives.length} hives online`];
  if (faulty > 0) parts.push(`${faulty} failing`);
  const label = overall === 'ready' ? 'all ready' : overall;
  return {
    overall,
    hivesOnline,
    hivesTotal: snapshot.hives.length,
    workersReady,
    workersTotal: snapshot.workers.length,
    byState,
    tooltip: `rbee — ${label}: ${parts.join(', ')}`,
  };
}
