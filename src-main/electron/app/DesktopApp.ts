import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import type { Queen, QueenOptions } from '../../queen/Queen.js';
import { registerControlIpc, type ControlIpcRegistration, type IpcMainLike } from '../ipc/registerControlIpc.js';
import { DesktopNotifier, type CreateNotification } from '../notices/DesktopNotifier.js';
import { APP_ORIGIN } from '../security/appProtocol.js';
import type { SettingsStore } from '../settings/SettingsStore.js';
import type { TrayMenuItem } from '../tray/buildTrayMenu.js';
import { TrayController, type TrayIconName, type TrayLike } from '../tray/TrayController.js';
import type { CreateWindow } from '../windows/ShellWindow.js';
import { ShellWindows } from '../windows/ShellWindows.js';
import { prepareLaunch, type FirstRunResult } from './firstRun.js';
import { persistingControl } from './persistingControl.js';
import { settingsWorkerSpecStore } from '../settings/settingsWorkerSpecStore.js';
import { settingsPoolKeyStore } from '../settings/settingsPoolKeyStore.js';
import { FilePoolKeyStore } from '../../queen/pools/PoolKeyStore.js';
import { lanBinding } from '../../../src-shared/desktop/desktopPreferences.js';

/**
 * Everything the desktop app needs from Electron, as named operations. `main.ts` adapts the real
 * `app`, `BrowserWindow`, `Tray`, `Menu`, `globalShortcut`, `ipcMain` and `dialog` to it; tests pass
 * a fake. Nothing else in the shell touches Electron.
 */
export interface DesktopHost<Image, Menu> {
  requestSingleInstanceLock(): boolean;
  onSecondInstance(listener: () => void): void;
  onBeforeQuit(listener: (event: { preventDefault(): void }) => void): void;
  onWindowAllClosed(listener: () => void): void;
  onActivate(listener: () => void): void;
  /** Custom app event `rbee:quick-inference` (also what the e2e suite uses in place of a tray click). */
  onQuickInferenceRequest(listener: () => void): void;
  quit(): void;
  exit(code: number): void;
  ipcMain: IpcMainLike;
  createWindow: CreateWindow;
  createTray(image: Image): TrayLike<Image, Menu>;
  buildMenu(items: TrayMenuItem[]): Menu;
  trayIcons: Record<TrayIconName, Image>;
  registerShortcut(accelerator: string, callback: () => void): boolean;
  unregisterAllShortcuts(): void;
  showError(title: string, message: string): void;
  /** Electron `Notification` (null where the OS has none); absent: no desktop notices. */
  createNotification?: CreateNotification;
}

export interface DesktopAppOptions<Image, Menu> {
  host: DesktopHost<Image, Menu>;
  settings: SettingsStore;
  createQueen(options: QueenOptions): Promise<Queen>;
  /** `<userData>/rbee`. */
  dataDir: string;
  preloadPath: string;
  /** Built dashboard, served at `app://rbee/` and, by the queen, at `/ui`. */
  rendererDir: string;
  /** Dev only: the electron-vite dev server's origin (loopback). */
  devServerUrl?: string;
  /** Longest a quit waits for the queen's cascade (which itself caps workers at 30 s). Defaults to 40 s. */
  quitTimeoutMs?: number;
  /** Overrides first-run preparation (tests). */
  prepare?: () => Promise<FirstRunResult>;
  log?: (message: string) => void;
}

type Phase = 'idle' | 'starting' | 'running' | 'quitting' | 'done';

/**
 * The desktop app's lifecycle: one instance; the queen runs in this (main) process; the dashboard
 * window; the tray; the quick-inference popup on a global shortcut. Closing the window keeps the app
 * in the tray. Quit runs the queen's graceful cascade (local hives and workers; remote hives keep
 * serving) with progress shown on the tray and the window, then exits.
 */
export class DesktopApp<Image, Menu> {
  private phase: Phase = 'idle';
  private queen: Queen | null = null;
  private queenStarting: Promise<Queen> | null = null;
  private control: ControlApi | null = null;
  private readonly controlReady: Promise<ControlApi>;
  private resolveControl!: (control: ControlApi) => void;
  private rejectControl!: (error: Error) => void;
  private ipc: ControlIpcRegistration | null = null;
  private trayController: TrayController<Image, Menu> | null = null;
  private notifier: DesktopNotifier | null = null;
  private quitPromise: Promise<void> | null = null;
  readonly windows: ShellWindows;

  constructor(private readonly options: DesktopAppOptions<Image, Menu>) {
    this.controlReady = new Promise<ControlApi>((resolve, reject) => {
      this.resolveControl = resolve;
      this.rejectControl = reject;
    });
    this.controlReady.catch(() => undefined);
    const { settings } = options;
    const dev = options.devServerUrl;
    this.windows = new ShellWindows({
      createWindow: options.host.createWindow,
      preloadPath: options.preloadPath,
      ...(dev ? { rendererUrl: (route: string) => `${dev.replace(/\/$/, '')}/#${route}` } : {}),
      windowState: settings.get().window,
      saveWindowState: (state) => settings.setWindowState(state),
      ...(options.log ? { log: options.log } : {}),
      onDashboardClose: () => (settings.get().close_to_tray ? 'hide' : 'quit'),
      quit: () => options.host.quit(),
    });
  }

  /** Origins our pages load from: `app://rbee`, plus the dev server in development. */
  get appOrigins(): string[] {
    const origins = [APP_ORIGIN];
    if (this.options.devServerUrl) origins.push(new URL(this.options.devServerUrl).origin);
    return origins;
  }

  get currentPhase(): Phase {
    return this.phase;
  }

  get tray(): TrayController<Image, Menu> | null {
    return this.trayController;
  }

  /** Call before `app.whenReady()`. False: another instance runs (it was told to show itself); quit. */
  claimSingleInstance(): boolean {
    const { host } = this.options;
    if (!host.requestSingleInstanceLock()) {
      host.quit();
      return false;
    }
    host.onSecondInstance(() => {
      if (this.phase !== 'quitting' && this.phase !== 'done') this.windows.showDashboard();
    });
    host.onBeforeQuit((event) => this.onBeforeQuit(event));
    // Closing every window keeps the app in the tray.
    host.onWindowAllClosed(() => undefined);
    host.onActivate(() => {
      if (this.phase === 'running' || this.phase === 'starting') this.windows.showDashboard();
    });
    host.onQuickInferenceRequest(() => this.quickInference());
    return true;
  }

  /** Call once the app is ready. Resolves when the queen runs (or the start failed and quit began). */
  async start(): Promise<void> {
    if (this.phase !== 'idle') return;
    this.phase = 'starting';
    const { host, settings } = this.options;
    const log = this.options.log ?? (() => undefined);

    this.ipc = registerControlIpc({
      ipcMain: host.ipcMain,
      control: () => this.controlReady,
      senderPolicy: { origins: this.appOrigins, isOwnWebContents: (id) => this.windows.isOwnWebContents(id) },
      onRejected: ({ channel, reason }) => log(`ipc: rejected ${channel}: ${reason}`),
    });
    const shortcut = settings.get().quick_shortcut;
    this.trayController = new TrayController<Image, Menu>({
      tray: host.createTray(host.trayIcons.starting),
      icons: host.trayIcons,
      buildMenu: (items) => host.buildMenu(items),
      openDashboard: () => this.windows.showDashboard(),
      quickInference: () => this.quickInference(),
      quit: () => host.quit(),
      ...(shortcut ? { quickShortcut: shortcut } : {}),
      log,
    });
    this.windows.showDashboard();

    try {
      const prepared = await (this.options.prepare ?? (() => prepareLaunch({ settings, dataDir: this.options.dataDir, log })))();
      if ((this.phase as Phase) !== 'starting') return;
      const s = settings.get();
      // LAN exposure (Settings → Desktop app) binds every interface, over TLS unless plain HTTP was confirmed.
      const lan = lanBinding(s);
      this.queenStarting = this.options.createQueen({
        port: s.queen_port,
        host: lan.host,
        ...(lan.tls ? { tls: true } : {}),
        apiToken: prepared.apiToken,
        dataDir: this.options.dataDir,
        demo: s.demo_model,
        localHive: true,
        localHiveStandby: s.warm_standby,
        auditMode: s.audit_mode,
        uiDir: this.options.rendererDir,
        hivePort: s.hive_port,
        workerSpecStore: settingsWorkerSpecStore(settings),
        // Pool keys sealed with safeStorage in the settings; keys an earlier version left in files move there.
        poolKeyStore: settingsPoolKeyStore(settings, new FilePoolKeyStore(this.options.dataDir)),
        ...(s.models_dir ? { modelsDir: s.models_dir } : {}),
      });
      const queen = await this.queenStarting;
      this.queen = queen;
      // A quit may have been asked for while the queen was starting.
      if ((this.phase as Phase) !== 'starting') return;
      this.control = persistingControl(queen.control, settings, log);
      this.trayController.attach(this.control);
      if (host.createNotification) {
        this.notifier = new DesktopNotifier({ createNotification: host.createNotification, enabled: () => settings.get().notifications, log });
        this.notifier.attach(this.control);
      }
      this.resolveControl(this.control);
      this.phase = 'running';
      if (shortcut && !host.registerShortcut(shortcut, () => this.quickInference())) {
        log(`global shortcut ${shortcut} is taken by another application`);
      }
      log(`queen running at ${queen.url}`);
      // Remote hives come back by themselves: the queen's SSH manager re-adopts the hives it added
      // (records in <dataDir>/ssh). Re-adding them from here as well would race it.
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.rejectControl(new Error(`The queen could not start: ${message}`));
      if ((this.phase as Phase) === 'starting') {
        host.showError('rbee could not start', message);
        host.quit();
      }
    }
  }

  quickInference(): void {
    if (this.phase === 'quitting' || this.phase === 'done') return;
    this.windows.showQuick();
  }

  /** Runs the graceful cascade once; later calls share it. */
  shutdown(): Promise<void> {
    this.quitPromise ??= this.runShutdown();
    return this.quitPromise;
  }

  private onBeforeQuit(event: { preventDefault(): void }): void {
    if (this.phase === 'done') return;
    event.preventDefault();
    void this.shutdown().then(() => this.options.host.quit());
  }

  private async runShutdown(): Promise<void> {
    const { host } = this.options;
    const log = this.options.log ?? (() => undefined);
    this.phase = 'quitting';
    this.windows.beginQuit();
    this.windows.hideQuick();
    this.trayController?.setQuitting();
    host.unregisterAllShortcuts();
    this.windows.showQuitProgress('stopping local workers…', null);
    const stopProgress = this.control?.subscribe((event) => {
      if (event.type !== 'shutdown_progress') return;
      const p = event.progress;
      const text = p.phase === 'done' ? `stopped ${p.hive_id}` : `stopping: ${p.remaining_workers} workers left on ${p.hive_id} (${p.phase})`;
      this.windows.showQuitProgress(text, null);
      this.trayController?.setQuitting(`rbee — ${text}`);
    });
    const timeoutMs = this.options.quitTimeoutMs ?? 40_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A quit during start waits for the queen, so that its local hive is not orphaned.
      const queen = this.queen ?? (this.queenStarting ? await this.queenStarting.catch(() => null) : null);
      if (queen) {
        const closed = queen.close({ stopRemote: false }).then(() => 'closed' as const);
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
        const outcome = await Promise.race([closed, timedOut]);
        if (outcome === 'timeout') log(`quit: the queen did not finish its shutdown within ${timeoutMs} ms; exiting anyway`);
      }
    } catch (error) {
      log(`quit: shutdown failed: ${String(error)}`);
    } finally {
      if (timer) clearTimeout(timer);
      stopProgress?.();
      this.ipc?.dispose();
      this.trayController?.dispose();
      this.trayController = null;
      this.notifier?.dispose();
      this.notifier = null;
      this.windows.closeAll();
      this.rejectControl(new Error('rbee is shutting down'));
      this.phase = 'done';
    }
  }
}
