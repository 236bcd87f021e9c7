import { expect, test } from '@playwright/test';
import { launchDesktopApp, visibleWindowUrls, type LaunchedApp } from './desktopApp.js';

test.describe.configure({ mode: 'serial' });

let launched: LaunchedApp;

test.beforeAll(async () => {
  launched = await launchDesktopApp();
});

test.afterAll(async () => {
  await launched?.dispose();
});

test('opens the dashboard from app://rbee, sandboxed, with window.rbee as the only bridge', async () => {
  const page = launched.dashboard;
  await expect(page).toHaveURL(/^app:\/\/rbee\/index\.html/);
  const exposure = await page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    return {
      rbee: typeof w.rbee,
      methods: w.rbee ? Object.keys(w.rbee as object).sort() : [],
      require: typeof w.require,
      process: typeof w.process,
      electron: typeof w.electron,
      ipcRenderer: typeof w.ipcRenderer,
    };
  });
  expect(exposure).toMatchObject({ rbee: 'object', require: 'undefined', process: 'undefined', electron: 'undefined', ipcRenderer: 'undefined' });
  expect(exposure.methods).toContain('subscribe');
  expect(exposure.methods).toContain('infer');
  // New windows are denied (checklist 14).
  const before = (await launched.app.windows()).length;
  await page.evaluate(() => window.open('https://example.com/', '_blank'));
  await page.waitForTimeout(500);
  expect((await launched.app.windows()).length).toBe(before);
});

test('shows the demo worker on the local hive reaching ready', async () => {
  const page = launched.dashboard;
  await page.evaluate(() => (window.location.hash = '#/workers'));
  const state = page.getByTestId('worker-state').first();
  await expect(state).toHaveText(/idle|busy/, { timeout: 120_000 });
  await expect(page.getByText('rbee-demo-tiny.gguf').first()).toBeVisible();
});

test('quick inference from the tray popup: frameless #/quick window, streamed answer, Esc closes', async () => {
  const { app } = launched;
  const popupPromise = app.waitForEvent('window');
  // What the tray's "Quick inference…" item and the global shortcut do.
  await app.evaluate(({ app: electronApp }) => {
    electronApp.emit('rbee:quick-inference');
  });
  const popup = await popupPromise;
  await expect(popup).toHaveURL(/#\/quick$/);
  await expect(popup.getByRole('heading', { name: 'Quick inference' })).toBeVisible();
  await expect(popup.getByLabel('Model')).toHaveValue(/rbee-demo-tiny\.gguf/);
  const prompt = popup.getByLabel('Prompt');
  await prompt.fill('Say something');
  await prompt.press('Enter');
  await expect(popup.getByTestId('run-status')).toHaveText('done');
  await expect(popup.getByTestId('answer')).not.toBeEmpty();

  await popup.keyboard.press('Escape');
  await expect.poll(() => visibleWindowUrls(app)).not.toContainEqual(expect.stringMatching(/#\/quick$/));
});

test('closing the dashboard keeps the app running in the tray', async () => {
  const { app } = launched;
  await app.evaluate(({ BrowserWindow }) => {
    for (const w of BrowserWindow.getAllWindows()) if (w.webContents.getURL().endsWith('#/workers') || w.webContents.getURL().endsWith('#/')) w.close();
  });
  await expect.poll(() => visibleWindowUrls(app)).toEqual([]);
  const alive = await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length);
  expect(alive).toBeGreaterThan(0);
  // The second-instance path: the app shows its dashboard again.
  await app.evaluate(({ app: electronApp }) => {
    electronApp.emit('second-instance');
  });
  await expect.poll(() => visibleWindowUrls(app)).toContainEqual(expect.stringMatching(/^app:\/\/rbee\//));
});

test('Quit stops the local workers and the app exits cleanly', async () => {
  const { app, dashboard } = launched;
  const pids = await dashboard.evaluate(async () => {
    const api = (window as unknown as { rbee: { getSnapshot(): Promise<{ workers: Array<{ pid: number | null }> }> } }).rbee;
    return (await api.getSnapshot()).workers.map((w) => w.pid).filter((p): p is number => typeof p === 'number');
  });
  expect(pids.length).toBeGreaterThan(0);
  const child = app.process();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await app.evaluate(({ app: electronApp }) => {
    electronApp.quit();
  });
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
  expect(code).toBe(0);
  for (const pid of pids) {
    expect(() => process.kill(pid, 0), `worker ${pid} still running after quit`).toThrow();
  }
});
