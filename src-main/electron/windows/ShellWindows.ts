import type { BrowserWindowConstructorOptions } from 'electron';
import type { WindowState } from '../settings/desktopSettingsSchema.js';
import { appUrl } from '../security/appProtocol.js';
import { assertSecureWebPreferences, secureWebPreferences } from '../security/secureWebPreferences.js';
import type { CreateWindow, ShellWindow } from './ShellWindow.js';

export const QUICK_ROUTE = '/quick';

export interface ShellWindowsOptions {
  createWindow: CreateWindow;
  preloadPath: string;
  /** Renderer entry URL for a route; defaults to `app://rbee/index.html#<route>`. */
  rendererUrl?: (route: string) => string;
  /** Where the dashboard opened last time. */
  windowState: WindowState;
  saveWindowState(state: WindowState): void;
  icon?: BrowserWindowConstructorOptions['icon'];
  log?: (message: string) => void;
  /**
   * Closing the dashboard: `hide` (the app lives on in the tray; the default) or `quit`, asked at
   * each close (the setting `close_to_tray` may change at any time).
   */
  onDashboardClose?: () => 'hide' | 'quit';
  /** Called when a close should quit the app. */
  quit?: () => void;
}

/**
 * The shell's two windows: the dashboard, and the frameless quick-inference popup (the renderer's
 * `#/quick` route). Every window is built from `secureWebPreferences` and checked before creation.
 * Closing the dashboard hides it (the app lives on in the tray) until a quit has begun.
 */
export class ShellWindows {
  private dashboard: ShellWindow | null = null;
  private quick: ShellWindow | null = null;
  private readonly ownIds = new Set<number>();
  private quitting = false;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: ShellWindowsOptions) {}

  /** For the IPC sender check: only our windows may call the ControlApi. */
  isOwnWebContents(id: number): boolean {
    return this.ownIds.has(id);
  }

  get dashboardWindow(): ShellWindow | null {
    return this.dashboard;
  }

  get quickWindow(): ShellWindow | null {
    return this.quick;
  }

  showDashboard(): ShellWindow {
    let win = this.dashboard;
    if (!win || win.isDestroyed()) {
      const state = this.options.windowState;
      win = this.create({
        title: 'rbee',
        width: state.width,
        height: state.height,
        ...(state.x !== undefined && state.y !== undefined ? { x: state.x, y: state.y } : {}),
        minWidth: 720,
        minHeight: 480,
        show: false,
        backgroundColor: '#111318',
      });
      const created = win;
      this.dashboard = created;
      if (state.maximized) created.maximize();
      created.on('close', (event) => {
        this.persistState(created, true);
        if (!this.quitting) {
          event.preventDefault();
          if ((this.options.onDashboardClose?.() ?? 'hide') === 'quit' && this.options.quit) this.options.quit();
          else created.hide();
        }
      });
      created.on('resize', () => this.persistState(created));
      created.on('move', () => this.persistState(created));
      created.on('closed', () => {
        if (this.dashboard === created) this.dashboard = null;
      });
      void created.loadURL(this.url('/')).catch((error: unknown) => this.options.log?.(`dashboard failed to load: ${String(error)}`));
    }
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
    return win;
  }

  /** Opens (or re-shows) the quick-inference popup. */
  showQuick(): ShellWindow {
    let win = this.quick;
    if (!win || win.isDestroyed()) {
      win = this.create({
        title: 'rbee — quick inference',
        width: 640,
        height: 420,
        frame: false,
        resizable: false,
        minimizable: false,
        maximizable: false,
        fullscreenable: false,
        alwaysOnTop: true,
        skipTaskbar: true,
        show: false,
        center: true,
        backgroundColor: '#111318',
      });
      const created = win;
      this.quick = created;
      // Esc closes (hides) the popup. The key still reaches the page, whose own Esc handling
      // cancels a running answer and clears the prompt, so a hidden popup never keeps generating.
      created.webContents.on('before-input-event', (_event, input) => {
        if (input.type === 'keyDown' && input.key === 'Escape') created.hide();
      });
      created.on('blur', () => {
        if (!created.isDestroyed()) created.hide();
      });
      created.on('closed', () => {
        if (this.quick === created) this.quick = null;
      });
      void created.loadURL(this.url(QUICK_ROUTE)).catch((error: unknown) => this.options.log?.(`quick inference failed to load: ${String(error)}`));
    }
    win.show();
    win.focus();
    return win;
  }

  hideQuick(): void {
    if (this.quick && !this.quick.isDestroyed()) this.quick.hide();
  }

  /** After this, closing a window really closes it. */
  beginQuit(): void {
    this.quitting = true;
  }

  /** Shows shutdown progress on the dashboard (title and taskbar progress). */
  showQuitProgress(text: string, fraction: number | null): void {
    const win = this.dashboard;
    if (!win || win.isDestroyed()) return;
    win.setTitle(`rbee — ${text}`);
    win.setProgressBar(fraction === null ? 2 : Math.max(0, Math.min(1, fraction)));
  }

  closeAll(): void {
    this.quitting = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    for (const win of [this.quick, this.dashboard]) if (win && !win.isDestroyed()) win.destroy();
    this.quick = null;
    this.dashboard = null;
  }

  private create(base: BrowserWindowConstructorOptions): ShellWindow {
    const options: BrowserWindowConstructorOptions = {
      ...base,
      ...(this.options.icon ? { icon: this.options.icon } : {}),
      webPreferences: secureWebPreferences(this.options.preloadPath),
    };
    assertSecureWebPreferences(options.webPreferences);
    const win = this.options.createWindow(options);
    const id = win.webContents.id;
    this.ownIds.add(id);
    win.on('closed', () => this.ownIds.delete(id));
    return win;
  }

  private url(route: string): string {
    return this.options.rendererUrl ? this.options.rendererUrl(route) : appUrl(route);
  }

  private persistState(win: ShellWindow, now = false): void {
    if (win.isDestroyed()) return;
    const write = (): void => {
      this.saveTimer = null;
      if (win.isDestroyed()) return;
      const maximized = win.isMaximized();
      const b = win.getBounds();
      const state: WindowState = maximized
        ? { ...this.options.windowState, maximized: true }
        : { x: Math.round(b.x), y: Math.round(b.y), width: Math.max(400, Math.round(b.width)), height: Math.max(300, Math.round(b.height)), maximized: false };
      this.options.windowState = state;
      this.options.saveWindowState(state);
    };
    if (this.saveTimer) clearTimeout(this.saveTimer);
    if (now) write();
    else this.saveTimer = setTimeout(write, 500);
  }
}
