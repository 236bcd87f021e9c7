import type { Page } from '@playwright/test';
import { expect, expectAccessible, login, readyWorker, screenshot, test } from './fixtures.js';

const VIEWS = [
  { route: 'cluster', nav: 'Cluster', heading: 'Cluster' },
  { route: 'workers', nav: 'Workers', heading: 'Workers' },
  { route: 'pools', nav: 'Pools', heading: 'Pools' },
  { route: 'audit', nav: 'Audit', heading: 'Audit log' },
  { route: 'models', nav: 'Models', heading: 'Models' },
  { route: 'playground', nav: 'Playground', heading: 'Inference playground' },
  { route: 'settings', nav: 'Settings', heading: 'Settings' },
] as const;

/** Panels opened inside a view, checked with it: the Workers view's logs panel. */
async function checkPanels(page: Page, route: string, workerId: string, label: string): Promise<void> {
  if (route !== 'workers') return;
  await page.getByRole('button', { name: `Logs of ${workerId}` }).click();
  await expect(page.getByTestId('logs-output')).toContainText('listening');
  await screenshot(page, `panel-logs${label}`);
  const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  expect(overflow, `the logs panel scrolls sideways${label}`).toBeLessThanOrEqual(0);
  await expectAccessible(page, `workers logs panel${label}`);
  await page.getByRole('button', { name: 'Close logs' }).click();
}

test('every view: screenshot (desktop and 360 px) and no serious axe violations', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'settings'); // so that every click below changes the route
  for (const view of VIEWS) {
    await page.getByRole('link', { name: view.nav, exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`#/${view.route}$`));
    await expect(page.getByRole('heading', { level: 1, name: view.heading })).toBeVisible();
    // Navigation moves focus to the view's heading (keyboard and screen-reader users land on it).
    await expect(page.getByRole('heading', { level: 1, name: view.heading })).toBeFocused();
    await expect(page.locator('[role="status"][aria-busy="true"]')).toHaveCount(0);
    await screenshot(page, `view-${view.route}`);
    await expectAccessible(page, view.route);
    await checkPanels(page, view.route, worker.id, '');
  }

  // Narrow: the tray popup's width.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const view of VIEWS) {
    await page.goto(`${queen.current.url}/ui/#/${view.route}`);
    await expect(page.getByRole('heading', { level: 1, name: view.heading })).toBeVisible();
    await expect(page.locator('[role="status"][aria-busy="true"]')).toHaveCount(0);
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow, `${view.route} scrolls sideways at 360 px`).toBeLessThanOrEqual(0);
    await screenshot(page, `view-${view.route}-360px`);
    await expectAccessible(page, `${view.route} at 360 px`);
    await checkPanels(page, view.route, worker.id, '-360px');
  }

  // Dark palette (prefers-color-scheme): contrast holds there too.
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.emulateMedia({ colorScheme: 'dark' });
  for (const view of VIEWS) {
    await page.goto(`${queen.current.url}/ui/#/${view.route}`);
    await expect(page.getByRole('heading', { level: 1, name: view.heading })).toBeVisible();
    await expect(page.locator('[role="status"][aria-busy="true"]')).toHaveCount(0);
    await screenshot(page, `view-${view.route}-dark`);
    await expectAccessible(page, `${view.route} (dark)`);
    await checkPanels(page, view.route, worker.id, '-dark');
  }
});

test('keyboard: the main navigation and a confirmation dialog work without a mouse', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'cluster');
  await page.keyboard.press('Tab'); // skip link first
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Cluster' })).toBeFocused();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#\/workers$/);
  const stop = page.getByRole('button', { name: `Stop ${worker.id}` });
  await stop.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: `Stop worker ${worker.id}?` });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused(); // safe default
  await screenshot(page, 'workers-confirm-stop');
  await expectAccessible(page, 'confirm dialog');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(stop).toBeFocused(); // focus returns to the opener
});

test('models: catalog per hive with the demo label; a download fails clearly here', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'models');
  const row = page.locator(`tr[data-model="${worker.model}"]`);
  await expect(row).toBeVisible();
  await expect(row).toContainText('demo');
  // Each model lists the workers using it.
  await expect(row.getByTestId('model-used-by')).toContainText(worker.id);
  await page.getByLabel('Source').fill('not a url');
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByText('Not a valid URL or hf: URI.')).toBeVisible();
  await page.getByLabel('Source').fill('hf:nobody/nothing/model.gguf');
  await page.getByRole('button', { name: 'Download' }).click();
  // Either the queen refuses at once or the download reports failure on the event stream.
  await expect(page.getByTestId('download-status').or(page.locator('.downloads li[data-state="failed"]')).first()).toBeVisible();
  await expect(page.locator('.downloads li[data-state="failed"]').or(page.locator('[data-testid="download-status"].error-text')).first()).toBeVisible({
    timeout: 60_000,
  });
  await screenshot(page, 'models-download-failed');
});
