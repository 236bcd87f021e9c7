import type { ClusterSnapshot, ShutdownProgress } from '../../../src-shared/cluster/ClusterEvent.js';
import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import { applyClusterEvent } from './applyClusterEvent.js';
import { buildTrayMenu, type TrayMenuItem } from './buildTrayMenu.js';
import { clusterHealth, type OverallHealth } from './clusterHealth.js';

/** The part of Electron's Tray the controller uses. */
export interface TrayLike<Image, Menu> {
  setImage(image: Image): void;
  setToolTip(toolTip: string): void;
  setContextMenu(menu: Menu | null): void;
  on(event: 'click', listener: () => void): unknown;
  destroy(): void;
}

export type TrayIconName = OverallHealth | 'starting';

export interface TrayControllerOptions<Image, Menu> {
  tray: TrayLike<Image, Menu>;
  icons: Record<TrayIconName, Image>;
  /** `Menu.buildFromTemplate`. */
  buildMenu(items: TrayMenuItem[]): Menu;
  openDashboard(): void;
  quickInference(): void;
  quit(): void;
  quickShortcut?: string;
  log?: (message: string) => void;
}

/**
 * Owns the tray: keeps a cluster view from the ControlApi's event stream and re-renders icon,
 * tooltip and menu from it. Pause all stops every running worker and remembers them; Resume starts
 * exactly those again.
 */
export class TrayController<Image, Menu> {
  private snapshot: ClusterSnapshot | null = null;
  private paused: Array<{ hive: string; id: string }> = [];
  private busy = false;
  private quitting = false;
  private shutdown: ShutdownProgress | null = null;
  private unsubscribe: (() => void) | null = null;
  private control: ControlApi | null = null;
  private lastIcon: TrayIconName | null = null;

  constructor(private readonly options: TrayControllerOptions<Image, Menu>) {
    options.tray.on('click', () => options.openDashboard());
    this.render();
  }

  attach(control: ControlApi): void {
    this.detach();
    this.control = control;
    this.unsubscribe = control.subscribe((event) => {
      if (event.type === 'shutdown_progress') this.shutdown = event.progress;
      this.snapshot = applyClusterEvent(this.snapshot, event);
      this.render();
    });
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** For tests and for the first render before the stream's snapshot arrives. */
  setSnapshot(snapshot: ClusterSnapshot): void {
    this.snapshot = snapshot;
    this.render();
  }

  setQuitting(progress?: string): void {
    this.quitting = true;
    this.render(progress);
  }

  get currentIcon(): TrayIconName | null {
    return this.lastIcon;
  }

  async pauseAll(): Promise<void> {
    const control = this.control;
    if (!control || this.busy || !this.snapshot) return;
    const running = this.snapshot.workers.filter((w) => w.state !== 'stopped' && w.state !== 'stopping');
    this.busy = true;
    this.render();
    try {
      const results = await Promise.allSettled(running.map((w) => control.stopWorker(w.hive, w.id)));
      this.paused = running.filter((_, i) => results[i]?.status === 'fulfilled').map((w) => ({ hive: w.hive, id: w.id }));
      results.forEach((r, i) => {
        if (r.status === 'rejected') this.options.log?.(`pause: could not stop ${running[i]?.id}: ${String(r.reason)}`);
      });
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async resumeAll(): Promise<void> {
    const control = this.control;
    if (!control || this.busy || this.paused.length === 0) return;
    const toStart = this.paused;
    this.busy = true;
    this.render();
    try {
      const results = await Promise.allSettled(toStart.map((w) => control.startWorker(w.hive, w.id)));
      this.paused = toStart.filter((_, i) => results[i]?.status === 'rejected');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  dispose(): void {
    this.detach();
    this.options.tray.destroy();
  }

  private render(progress?: string): void {
    const { tray, icons } = this.options;
    const health = this.snapshot ? clusterHealth(this.snapshot) : null;
    const icon: TrayIconName = health ? health.overall : 'starting';
    if (icon !== this.lastIcon) {
      tray.setImage(icons[icon]);
      this.lastIcon = icon;
    }
    let tooltip = health ? health.tooltip : 'rbee — starting…';
    if (this.quitting) {
      const s = this.shutdown;
      tooltip = progress ?? (s ? `rbee — stopping: ${s.remaining_workers} workers left on ${s.hive_id} (${s.phase})` : 'rbee — stopping…');
    }
    tray.setToolTip(tooltip);
    const items = buildTrayMenu(
      {
        snapshot: this.snapshot,
        paused: this.paused.length > 0,
        busy: this.busy,
        quitting: this.quitting,
        ...(this.options.quickShortcut ? { quickShortcut: this.options.quickShortcut } : {}),
      },
      {
        quickInference: () => this.options.quickInference(),
        openDashboard: () => this.options.openDashboard(),
        pauseAll: () => void this.pauseAll(),
        resumeAll: () => void this.resumeAll(),
        quit: () => this.options.quit(),
      },
    );
    tray.setContextMenu(this.options.buildMenu(items));
  }
}
