import { expect, login, readyWorker, recordRowHistory, rowHistory, screenshot, test, workerRow } from './fixtures.js';

test('SIGKILL a worker: crashed → backoff with a countdown → ready, restart_count +1, without a reload', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'workers');
  const row = workerRow(page, worker.id);
  await expect(row).toHaveAttribute('data-state', /idle|busy/);
  const before = Number(await row.getByTestId('restart-count').textContent());
  await recordRowHistory(page, worker.id);
  // Mark the document: a reload would lose this.
  await page.evaluate('window.__noReload = true');

  expect(worker.pid).toBeGreaterThan(0);
  process.kill(worker.pid!, 'SIGKILL');

  // The hive reports `crashed` and `backoff` in the same instant; the row shows the crash (signal)
  // together with the countdown to the restart.
  await expect
    .poll(() => rowHistory(page), { timeout: 60_000 })
    .toContainEqual(expect.stringMatching(/^backoff\|.*crashed \(SIGKILL\).*restart in \d+s$/));
  await expect(row).toHaveAttribute('data-state', /idle|busy/, { timeout: 60_000 });
  await expect(row.getByTestId('restart-count')).toHaveText(String(before + 1));
  const history = await rowHistory(page);
  // The crash is shown (as its own state when the hive reported it separately, and in any case as the last exit).
  const crashedIdx = history.findIndex((h) => h.startsWith('crashed'));
  const backoffIdx = history.findIndex((h) => h.startsWith('backoff'));
  const readyIdx = history.findLastIndex((h) => h.startsWith('idle') || h.startsWith('busy'));
  if (crashedIdx !== -1) expect(crashedIdx).toBeLessThan(backoffIdx);
  expect(backoffIdx).toBeLessThan(readyIdx);
  await expect(row.locator('details.last-exit summary')).toContainText('SIGKILL');
  await row.locator('details.last-exit summary').click();
  await expect(row.locator('pre.stderr')).toBeVisible();
  expect(await page.evaluate('window.__noReload')).toBe(true);
  test.info().annotations.push({ type: 'row history', description: history.join(' → ') });
  console.log('row history:', history.join(' → '));
  await screenshot(page, 'workers-after-restart');
});
