// The Electron main process of rbee desktop. This file only adapts Electron's objects to the
// shell's interfaces (DesktopHost and friends) and wires them; the behaviour lives in modules that
// are tested under Node with a fake Electron. Built by electron-vite to out/main/index.js (ESM).
import { app, BrowserWindow, dialog, globalShortcut, ipcMain, Menu, nativeImage, Notification, protocol, safeStorage, session, Tray } from 'electron';
import type { MenuItemConstructorOptions, NativeImage } from 'electron';
import Store from 'electron-store';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DesktopApp, type DesktopHost } from './app/DesktopApp.js';
import { createQueenLoader } from './app/loadCreateQueen.js';
import { APP_SCHEME, APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './security/appProtocol.js';
import { devCsp } from './security/contentSecurityPolicy.js';
import { hardenWebContents } from './security/hardenWebContents.js';
import { applyPermissionPolicy } from './security/permissionPolicy.js';
import { SecretSealer } from './settings/SecretSealer.js';
import { SettingsStore, type SettingsBackend } from './settings/SettingsStore.js';
import type { TrayMenuItem } from './tray/buildTrayMenu.js';
import type { TrayIconName } from './tray/TrayController.js';

const log = (message: string): void => console.log(`[rbee] ${message}`);

const mainDir = fileURLToPath(new URL('.', import.meta.url));
const preloadPath = join(mainDir, '..', 'preload', 'index.cjs');
const rendererDir = join(mainDir, '..', 'renderer');
const resourcesDir = join(app.getAppPath(), 'resources');

// Development only: the electron-vite dev server, on loopback. A packaged app never loads it.
const devServerUrl = !app.isPackaged && process.env.ELECTRON_RENDERER_URL && /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?\/?/.test(process.env.ELECTRON_RENDERER_URL)
  ? process.env.ELECTRON_RENDERER_URL
  : undefined;

// A separate profile for tests and for running two builds side by side.
if (process.env.RBEE_USER_DATA_DIR) app.setPath('userData', process.env.RBEE_USER_DATA_DIR);

// Where the app's files are (the repository in development, `…/resources/app.asar` when packaged).
// Bundled code cannot derive it from its own path (chunks sit at different depths); the queen's
// child-process launcher and its children (inherited environment) read it from here.
process.env.RBEE_APP_ROOT ??= app.getAppPath();

app.enableSandbox();
protocol.registerSchemesAsPrivileged([{ ...APP_SCHEME_PRIVILEGES, privileges: { ...APP_SCHEME_PRIVILEGES.privileges } }]);

app.on('web-contents-created', (_event, contents) => {
  hardenWebContents(contents, { onBlocked: ({ kind, url }) => log(`security: blocked ${kind} ${url}`) });
});

function openSettings(): SettingsStore {
  const backend = new Store<Record<string, unknown>>({ name: 'settings', clearInvalidConfig: false });
  return new SettingsStore(backend as unknown as SettingsBackend, new SecretSealer(safeStorage));
}

function toMenuTemplate(items: TrayMenuItem[]): MenuItemConstructorOptions[] {
  return items.map((item) => {
    const out: MenuItemConstructorOptions = {};
    if (item.id !== undefined) out.id = item.id;
    if (item.label !== undefined) out.label = item.label;
    if (item.type !== undefined) out.type = item.type;
    if (item.enabled !== undefined) out.enabled = item.enabled;
    if (item.accelerator !== undefined) out.accelerator = item.accelerator;
    if (item.click) {
      const click = item.click;
      out.click = () => click();
    }
    if (item.submenu) out.submenu = toMenuTemplate(item.submenu);
    return out;
  });
}

function trayIcon(name: TrayIconName): NativeImage {
  const image = nativeImage.createFromPath(join(resourcesDir, 'tray', `tray-${name}.png`));
  return image.isEmpty() ? nativeImage.createEmpty() : image;
}

const host: DesktopHost<NativeImage, Menu> = {
  requestSingleInstanceLock: () => app.requestSingleInstanceLock(),
  onSecondInstance: (listener) => void app.on('second-instance', () => listener()),
  onBeforeQuit: (listener) => void app.on('before-quit', (event) => listener(event)),
  onWindowAllClosed: (listener) => void app.on('window-all-closed', () => listener()),
  onActivate: (listener) => void app.on('activate', () => listener()),
  // Only main-process code can emit this (the e2e suite does, through electronApp.evaluate).
  onQuickInferenceRequest: (listener) => void (app as NodeJS.EventEmitter).on('rbee:quick-inference', () => listener()),
  quit: () => app.quit(),
  exit: (code) => app.exit(code),
  ipcMain,
  createWindow: (options) => new BrowserWindow(options),
  createTray: (image) => new Tray(image),
  buildMenu: (items) => Menu.buildFromTemplate(toMenuTemplate(items)),
  trayIcons: { ready: trayIcon('ready'), degraded: trayIcon('degraded'), down: trayIcon('down'), starting: trayIcon('starting') },
  registerShortcut: (accelerator, callback) => {
    try {
      return globalShortcut.register(accelerator, callback);
    } catch {
      return false;
    }
  },
  unregisterAllShortcuts: () => globalShortcut.unregisterAll(),
  showError: (title, message) => dialog.showErrorBox(title, message),
  createNotification: (options) => (Notification.isSupported() ? new Notification({ ...options, silent: false }) : null),
};

async function main(): Promise<void> {
  let settings: SettingsStore;
  try {
    settings = openSettings();
  } catch (error) {
    await app.whenReady();
    dialog.showErrorBox('rbee settings could not be read', `${String(error)}\n\nFile: ${join(app.getPath('userData'), 'settings.json')}`);
    app.exit(1);
    return;
  }
  for (const note of settings.migration.notes) log(`settings: ${note}`);

  const desktop = new DesktopApp<NativeImage, Menu>({
    host,
    settings,
    createQueen: createQueenLoader(),
    dataDir: join(app.getPath('userData'), 'rbee'),
    preloadPath,
    rendererDir,
    ...(devServerUrl ? { devServerUrl } : {}),
    log,
  });
  if (!desktop.claimSingleInstance()) return;

  await app.whenReady();
  if (process.platform !== 'darwin') Menu.setApplicationMenu(null);
  applyPermissionPolicy(session.defaultSession, desktop.appOrigins);
  protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererDir, { readFile: (path) => readFile(path) }));
  if (devServerUrl) {
    const csp = devCsp(new URL(devServerUrl).origin);
    session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
    });
  }
  await desktop.start();
}

void main().catch((error: unknown) => {
  log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  app.exit(1);
});
