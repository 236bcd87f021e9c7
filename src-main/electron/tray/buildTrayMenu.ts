import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import type { WorkerState } from '../../../src-shared/cluster/WorkerInfo.js';
import { clusterHealth } from './clusterHealth.js';

/** The subset of Electron's MenuItemConstructorOptions the tray uses (plain data, easy to assert). */
export interface TrayMenuItem {
  id?: string;
  label?: string;
  type?: 'normal' | 'separator' | 'submenu';
  enabled?: boolean;
  accelerator?: string;
  click?: () => void;
  submenu?: TrayMenuItem[];
}

export interface TrayActions {
  quickInference(): void;
  openDashboard(): void;
  pauseAll(): void;
  resumeAll(): void;
  quit(): void;
}

export interface TrayMenuState {
  snapshot: ClusterSnapshot | null;
  /** Workers were paused from the tray and can be resumed. */
  paused: boolean;
  /** A pause/resume or quit is running. */
  busy: boolean;
  quitting: boolean;
  quickShortcut?: string;
}

const STATE_ORDER: WorkerState[] = ['idle', 'busy', 'loading', 'backoff', 'crashed', 'unhealthy', 'failed', 'stopping', 'stopped'];
/** Most worker lines listed before "… and N more". */
export const MAX_WORKER_LINES = 8;

/**
 * The tray menu for a cluster snapshot: Quick inference…, Open dashboard, a workers summary (one
 * disabled line for the counts, one per worker), Pause all / Resume, Quit.
 */
export function buildTrayMenu(state: TrayMenuState, actions: TrayActions): TrayMenuItem[] {
  const items: TrayMenuItem[] = [
    { id: 'quick', label: 'Quick inference…', click: actions.quickInference, enabled: !state.quitting, ...(state.quickShortcut ? { accelerator: state.quickShortcut } : {}) },
    { id: 'dashboard', label: 'Open dashboard', click: actions.openDashboard, enabled: !state.quitting },
    { type: 'separator' },
  ];

  if (!state.snapshot) {
    items.push({ id: 'summary', label: state.quitting ? 'Stopping…' : 'Starting…', enabled: false });
  } else {
    const health = clusterHealth(state.snapshot);
    const counts = STATE_ORDER.filter((s) => (health.byState[s] ?? 0) > 0).map((s) => `${health.byState[s]} ${s}`);
    items.push({
      id: 'summary',
      label: health.workersTotal === 0 ? 'No workers' : `Workers: ${counts.join(' · ')}`,
      enabled: false,
    });
    const workers = [...state.snapshot.workers].sort((a, b) => a.hive.localeCompare(b.hive) || a.model.localeCompare(b.model) || a.id.localeCompare(b.id));
    for (const w of workers.slice(0, MAX_WORKER_LINES)) {
      const restarts = w.restart_count > 0 ? ` · ${w.restart_count} restarts` : '';
      items.push({ id: `worker:${w.hive}:${w.id}`, label: `  ${w.model} on ${w.hive} — ${w.state}${restarts}`, enabled: false });
    }
    if (workers.length > MAX_WORKER_LINES) items.push({ id: 'more', label: `  … and ${workers.length - MAX_WORKER_LINES} more`, enabled: false });
  }

  items.push({ type: 'separator' });
  if (state.paused) items.push({ id: 'resume', label: 'Resume', click: actions.resumeAll, enabled: !state.busy && !state.quitting });
  else {
    const anyRunning = (state.snapshot?.workers ?? []).some((w) => w.state !== 'stopped' && w.state !== 'stopping');
    items.push({ id: 'pause', label: 'Pause all', click: actions.pauseAll, enabled: anyRunning && !state.busy && !state.quitting });
  }
  items.push({ type: 'separator' }, { id: 'quit', label: state.quitting ? 'Quitting…' : 'Quit', click: actions.quit, enabled: !state.quitting });
  return items;
}
