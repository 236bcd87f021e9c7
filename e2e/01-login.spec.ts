import { expect, expectAccessible, login, readyWorker, screenshot, test, workerRow } from './fixtures.js';

test('a wrong token is refused; the right one shows the cluster and the workers', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);

  await login(page, queen.current, 'cluster', 'not-the-token');
  await expect(page.getByTestId('login-error')).toHaveText(/refused/);
  await expect(page.getByLabel('API token')).toBeVisible();
  // The refused token was not kept.
  expect(await page.evaluate('sessionStorage.getItem("rbee.apiToken")')).toBeNull();
  await expectAccessible(page, 'login');
  await screenshot(page, 'login-refused');

  await login(page, queen.current, 'cluster');
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open');
  const hiveCard = page.locator(`article[data-hive-id="${worker.hive}"]`);
  await expect(hiveCard).toBeVisible();
  await expect(hiveCard).toHaveAttribute('data-state', 'online');
  await expect(hiveCard.getByTestId('hive-workers')).toHaveText(/^[1-9]\d* ready of \d+$/);
  // The token lives in this tab's session storage only.
  expect(await page.evaluate('localStorage.length')).toBe(0);

  await page.getByRole('link', { name: 'Workers' }).click();
  const row = workerRow(page, worker.id);
  await expect(row).toHaveAttribute('data-state', /idle|busy/);
  await expect(row.getByRole('cell', { name: worker.model, exact: true })).toBeVisible();
  await expect(row.getByTestId('restart-count')).toHaveText(String(worker.restart_count));
});
