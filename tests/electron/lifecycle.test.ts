import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Queen, QueenOptions } from '../../src-main/queen/Queen.js';
import { DesktopApp, type DesktopHost } from '../../src-main/electron/app/DesktopApp.js';
import { API_TOKEN_SECRET, prepareLaunch } from '../../src-main/electron/app/firstRun.js';
import { parseHiveAddress } from '../../src-main/electron/app/persistingControl.js';
import { SecretSealer } from '../../src-main/electron/settings/SecretSealer.js';
import { SettingsStore } from '../../src-main/electron/settings/SettingsStore.js';
import type { TrayMenuItem } from '../../src-main/electron/tray/buildTrayMenu.js';
import type { TrayIconName } from '../../src-main/electron/tray/TrayController.js';
import { fakeControl, fakeIpcMain, fakeSafeStorage, fakeSender, fakeWindowFactory, memorySettingsBackend } from './fakes.js';
import { waitFor } from '../helpers/waitFor.js';

function fakeHost(options: { lock?: boolean } = {}) {
  const listeners: Record<string, Array<(arg: { preventDefault(): void }) => void>> = {};
  const on = (name: string) => (l: (arg: { preventDefault(): void }) => void) => {
    (listeners[name] ??= []).push(l);
  };
  const ipc = fakeIpcMain();
  const { createWindow, windows } = fakeWindowFactory();
  const trayState = { images: [] as TrayIconName[], tooltips: [] as string[], menu: [] as TrayMenuItem[], destroyed: false };
  const host = {
    requestSingleInstanceLock: vi.fn(() => options.lock ?? true),
    onSecondInstance: on('second-instance'),
    onBeforeQuit: on('before-quit'),
    onWindowAllClosed: on('window-all-closed'),
    onActivate: on('activate'),
    onQuickInferenceRequest: on('rbee:quick-inference'),
    quit: vi.fn(() => {
      // Like Electron: quit() emits before-quit; a listener may prevent it.
      let prevented = false;
      for (const l of listeners['before-quit'] ?? []) l({ preventDefault: () => (prevented = true) });
      if (!prevented) quitState.quit = true;
    }),
    exit: vi.fn(),
    ipcMain: ipc.ipcMain,
    createWindow,
    createTray: vi.fn((image: TrayIconName) => {
      trayState.images.push(image);
      return {
        setImage: (i: TrayIconName) => trayState.images.push(i),
        setToolTip: (t: string) => trayState.tooltips.push(t),
        setContextMenu: (m: TrayMenuItem[] | null) => {
          trayState.menu = m ?? [];
        },
        on: vi.fn(),
        destroy: () => {
          trayState.destroyed = true;
        },
      };
    }),
    buildMenu: (items: TrayMenuItem[]) => items,
    trayIcons: { ready: 'ready', degraded: 'degraded', down: 'down', starting: 'starting' } as Record<TrayIconName, TrayIconName>,
    registerShortcut: vi.fn(() => true),
    unregisterAllShortcuts: vi.fn(),
    showError: vi.fn(),
  } satisfies DesktopHost<TrayIconName, TrayMenuItem[]>;
  const quitState = { quit: false };
  const emit = (name: string) => {
    for (const l of listeners[name] ?? []) l({ preventDefault: () => undefined });
  };
  return { host, ipc, windows, trayState, quitState, emit };
}

function fakeQueen(closeImpl?: () => Promise<void>) {
  const fake = fakeControl();
  const close = vi.fn(closeImpl ?? (async () => {
    fake.emit({ type: 'shutdown_progress', progress: { hive_id: 'local', phase: 'sigterm', remaining_workers: 1 } });
    fake.emit({ type: 'shutdown_progress', progress: { hive_id: 'local', phase: 'done', remaining_workers: 0 } });
  }));
  const queen: Queen = { url: 'http://127.0.0.1:7833', port: 7833, tlsFingerprint: null, control: fake.control, close };
  return { queen, close, fake };
}

function setup(opts: { lock?: boolean; createQueen?: (o: QueenOptions) => Promise<Queen>; quitTimeoutMs?: number; closeImpl?: () => Promise<void> } = {}) {
  const h = fakeHost(opts.lock === undefined ? {} : { lock: opts.lock });
  const q = fakeQueen(opts.closeImpl);
  const settings = new SettingsStore(memorySettingsBackend(), new SecretSealer(fakeSafeStorage()));
  const createQueen = vi.fn(opts.createQueen ?? (async () => q.queen));
  const app = new DesktopApp<TrayIconName, TrayMenuItem[]>({
    host: h.host,
    settings,
    createQueen,
    dataDir: '/data/rbee',
    preloadPath: '/app/out/preload/index.cjs',
    rendererDir: '/app/out/renderer',
    prepare: async () => ({ firstRun: false, apiToken: 'tok-0123456789abcdef', tokenPersisted: true, modelsDir: '/data/rbee/models' }),
    ...(opts.quitTimeoutMs ? { quitTimeoutMs: opts.quitTimeoutMs } : {}),
  });
  return { ...h, ...q, app, settings, createQueen };
}

describe('desktop app lifecycle', () => {
  it('LAN exposure from the desktop settings: every interface over TLS; plain HTTP only once confirmed, else loopback', async () => {
    const tlsOn = setup();
    tlsOn.settings.update({ lan_exposure: true, lan_tls: true });
    await tlsOn.app.start();
    expect(tlsOn.createQueen).toHaveBeenCalledWith(expect.objectContaining({ host: '0.0.0.0', tls: true }));

    const unconfirmed = setup();
    unconfirmed.settings.update({ lan_exposure: true, lan_tls: false, lan_plain_http_confirmed: false });
    await unconfirmed.app.start();
    expect(unconfirmed.createQueen).toHaveBeenCalledWith(expect.objectContaining({ host: '127.0.0.1' }));
    expect(unconfirmed.createQueen.mock.calls[0]?.[0]).not.toHaveProperty('tls');

    const confirmed = setup();
    confirmed.settings.update({ lan_exposure: true, lan_tls: false, lan_plain_http_confirmed: true });
    await confirmed.app.start();
    expect(confirmed.createQueen).toHaveBeenCalledWith(expect.objectContaining({ host: '0.0.0.0' }));
    expect(confirmed.createQueen.mock.calls[0]?.[0]).not.toHaveProperty('tls');
  });

  it('a second instance quits at once and starts nothing', async () => {
    const s = setup({ lock: false });
    expect(s.app.claimSingleInstance()).toBe(false);
    expect(s.host.quit).toHaveBeenCalled();
    expect(s.host.createWindow).not.toHaveBeenCalled();
    expect(s.createQueen).not.toHaveBeenCalled();
  });

  it('starts the queen in-process on loopback, opens the dashboard, shows the tray, binds the shortcut', async () => {
    const s = setup();
    expect(s.app.claimSingleInstance()).toBe(true);
    await s.app.start();
    expect(s.createQueen).toHaveBeenCalledWith({
      port: 7833,
      host: '127.0.0.1',
      apiToken: 'tok-0123456789abcdef',
      dataDir: '/data/rbee',
      demo: true,
      localHive: true,
      localHiveStandby: 1,
      auditMode: 'local',
      uiDir: '/app/out/renderer',
      hivePort: 7835,
      // Declared workers live in the desktop settings (electron-store), not in a file of the data dir.
      workerSpecStore: { load: expect.any(Function), save: expect.any(Function) },
      // Pool keys too: sealed secrets in the settings (tests/electron/poolKeys.test.ts), not 0600 files.
      poolKeyStore: { read: expect.any(Function), write: expect.any(Function) },
    });
    expect(s.app.currentPhase).toBe('running');
    expect(s.windows).toHaveLength(1);
    expect(s.windows[0]?.visible).toBe(true);
    expect(s.trayState.images[0]).toBe('starting');
    expect(s.trayState.images.at(-1)).toBe('ready');
    expect(s.host.registerShortcut).toHaveBeenCalledWith('CommandOrControl+Shift+Space', expect.any(Function));
    expect(s.trayState.menu.map((i) => i.label)).toContain('Quick inference…');
  });

  it('the dashboard can call the ControlApi over IPC once the queen runs', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    const dashboard = fakeSender(s.windows[0]!.webContents.id);
    expect(await s.ipc.invoke(dashboard, 'rbee:listHives')).toMatchObject({ ok: true, value: [{ id: 'local' }] });
    // A window the shell did not create is refused.
    await expect(s.ipc.invoke(fakeSender(999), 'rbee:listHives')).rejects.toThrow(/untrusted/);
  });

  it('closing the dashboard keeps the app in the tray; the second instance and the tray bring it back', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    const win = s.windows[0]!;
    win.close();
    expect(win.destroyed).toBe(false);
    expect(win.visible).toBe(false);
    s.emit('window-all-closed');
    expect(s.quitState.quit).toBe(false);
    expect(s.close).not.toHaveBeenCalled();
    s.emit('second-instance');
    expect(win.visible).toBe(true);
    s.trayState.menu.find((i) => i.id === 'dashboard')?.click?.();
    expect(s.windows).toHaveLength(1);
  });

  it('with close_to_tray off (Settings → Desktop app), closing the dashboard quits through the cascade', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    s.settings.update({ close_to_tray: false });
    s.windows[0]!.close();
    expect(s.host.quit).toHaveBeenCalled();
    expect(s.app.currentPhase).toBe('quitting');
    await s.app.shutdown();
    expect(s.close).toHaveBeenCalledWith({ stopRemote: false });
  });

  it('tray Quick inference… and the app event open the frameless #/quick popup', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    s.trayState.menu.find((i) => i.id === 'quick')?.click?.();
    expect(s.windows).toHaveLength(2);
    expect(s.windows[1]?.loaded).toEqual(['app://rbee/index.html#/quick']);
    s.windows[1]?.pressKey('Escape');
    expect(s.windows[1]?.visible).toBe(false);
    s.emit('rbee:quick-inference');
    expect(s.windows).toHaveLength(2);
    expect(s.windows[1]?.visible).toBe(true);
  });

  it('Quit runs the graceful cascade (remote hives left running), shows progress, then quits', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    s.trayState.menu.find((i) => i.id === 'quit')?.click?.();
    expect(s.quitState.quit).toBe(false); // prevented until the cascade is done
    expect(s.app.currentPhase).toBe('quitting');
    await s.app.shutdown();
    await waitFor(() => s.quitState.quit, { what: 'the quit after the cascade' });
    expect(s.close).toHaveBeenCalledTimes(1);
    expect(s.close).toHaveBeenCalledWith({ stopRemote: false });
    expect(s.trayState.tooltips).toContain('rbee — stopping: 1 workers left on local (sigterm)');
    expect(s.windows[0]?.title).toBe('rbee — stopped local');
    expect(s.host.unregisterAllShortcuts).toHaveBeenCalled();
    expect(s.trayState.destroyed).toBe(true);
    expect(s.windows[0]?.destroyed).toBe(true);
    expect(s.ipc.handlers.size).toBe(0);
    expect(s.quitState.quit).toBe(true);
    expect(s.app.currentPhase).toBe('done');
  });

  it('a second Quit during the cascade does not start another', async () => {
    const s = setup();
    s.app.claimSingleInstance();
    await s.app.start();
    s.host.quit();
    s.host.quit();
    await s.app.shutdown();
    expect(s.close).toHaveBeenCalledTimes(1);
  });

  it('a cascade that hangs is cut off after the quit timeout', async () => {
    const s = setup({ quitTimeoutMs: 50, closeImpl: () => new Promise<void>(() => undefined) });
    s.app.claimSingleInstance();
    await s.app.start();
    s.host.quit();
    await s.app.shutdown();
    await waitFor(() => s.quitState.quit, { what: 'the quit after the cut-off cascade' });
  });

  it('a quit while the queen is still starting waits for it and closes it', async () => {
    let release!: (q: Queen) => void;
    const pending = new Promise<Queen>((r) => (release = r));
    const s = setup({ createQueen: () => pending });
    s.app.claimSingleInstance();
    const started = s.app.start();
    await new Promise((r) => setTimeout(r, 0));
    s.host.quit();
    release(s.queen);
    await started;
    await s.app.shutdown();
    expect(s.close).toHaveBeenCalledTimes(1);
  });

  it('a queen that cannot start is reported and the app quits', async () => {
    const s = setup({ createQueen: async () => Promise.reject(new Error('port 7833 is in use')) });
    s.app.claimSingleInstance();
    await s.app.start();
    expect(s.host.showError).toHaveBeenCalledWith('rbee could not start', 'port 7833 is in use');
    await s.app.shutdown();
    expect(s.quitState.quit).toBe(true);
  });
});

describe('first run', () => {
  it('creates a sealed API token, enables local audit and the demo model; later runs reuse the token', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rbee-desktop-'));
    const store = memorySettingsBackend();
    const settings = new SettingsStore(store, new SecretSealer(fakeSafeStorage()));
    const first = await prepareLaunch({ settings, dataDir });
    expect(first.firstRun).toBe(true);
    expect(first.tokenPersisted).toBe(true);
    expect(first.apiToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(existsSync(join(dataDir, 'models'))).toBe(true);
    expect(existsSync(join(dataDir, 'audit'))).toBe(true);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(settings.get()).toMatchObject({ first_run_completed: true, audit_mode: 'local', demo_model: true });
    expect(JSON.stringify(store.store)).not.toContain(first.apiToken);

    const settings2 = new SettingsStore({ store: store.store }, new SecretSealer(fakeSafeStorage()));
    const second = await prepareLaunch({ settings: settings2, dataDir });
    expect(second.firstRun).toBe(false);
    expect(second.apiToken).toBe(first.apiToken);
    expect(settings2.getSecret(API_TOKEN_SECRET)).toBe(first.apiToken);
  });
});

describe('hive addresses', () => {
  it('parses user@host:port, host:port and host', () => {
    expect(parseHiveAddress('lab@gpu1.lan:2222')).toEqual({ user: 'lab', host: 'gpu1.lan', port: 2222 });
    expect(parseHiveAddress('gpu1:22')).toEqual({ user: undefined, host: 'gpu1', port: 22 });
    expect(parseHiveAddress('gpu1')).toEqual({ user: undefined, host: 'gpu1', port: undefined });
  });
});
