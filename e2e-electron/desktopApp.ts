import { _electron as electron, type ElectronApplication, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface LaunchedApp {
  app: ElectronApplication;
  dashboard: Page;
  userDataDir: string;
  dispose(): Promise<void>;
}

/**
 * Starts the built desktop app with its own profile. The profile's settings file is pre-seeded with
 * `queen_port: 0` (a free port, so the suite never collides with a running rbee) — the app's
 * migration completes the rest of the file like any hand-edited one.
 */
export async function launchDesktopApp(): Promise<LaunchedApp> {
  const executablePath = process.env.RBEE_ELECTRON_BINARY;
  if (!executablePath) throw new Error('RBEE_ELECTRON_BINARY is not set; run through scripts/electron-e2e.mjs');
  const userDataDir = mkdtempSync(join(tmpdir(), 'rbee-electron-e2e-'));
  writeFileSync(join(userDataDir, 'settings.json'), JSON.stringify({ schema_version: 1, queen_port: 0, quick_shortcut: '' }));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const app = await electron.launch({
    executablePath,
    // Chromium refuses to run as root with its OS sandbox; the renderer's `sandbox: true` still applies.
    args: [...(isRoot ? ['--no-sandbox'] : []), ROOT],
    cwd: ROOT,
    env: { ...process.env, RBEE_USER_DATA_DIR: userDataDir, ELECTRON_ENABLE_LOGGING: '1' } as Record<string, string>,
    timeout: 60_000,
  });
  const dashboard = await app.firstWindow();
  return {
    app,
    dashboard,
    userDataDir,
    async dispose() {
      await app.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** URLs of the app's visible windows, asked of the main process. */
export function visibleWindowUrls(app: ElectronApplication): Promise<string[]> {
  return app.evaluate(({ BrowserWindow }) =>
    BrowserWindow.getAllWindows()
      .filter((w) => !w.isDestroyed() && w.isVisible())
      .map((w) => w.webContents.getURL()),
  );
}
