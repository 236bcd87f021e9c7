import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import { expect, login, readyWorker, screenshot, test, workerRow } from './fixtures.js';

test('queen restart: the UI shows the disconnection, reconnects by itself and is consistent again', async ({ page, queen }) => {
  await readyWorker(queen.current);
  await login(page, queen.current, 'workers');
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open');
  await page.evaluate('window.__noReload = true');

  await queen.current.stop();
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', /reconnecting|closed/);
  await expect(page.getByTestId('disconnected-banner')).toBeVisible();
  await screenshot(page, 'workers-disconnected');

  queen.current = await queen.current.restart();
  const worker = await readyWorker(queen.current);
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 60_000 });
  await expect(page.getByTestId('disconnected-banner')).toBeHidden();
  expect(await page.evaluate('window.__noReload')).toBe(true);

  // Consistent with the new queen: exactly its workers, in their states.
  await expect(workerRow(page, worker.id)).toHaveAttribute('data-state', /idle|busy/);
  const snapshot = await queen.current.control<ClusterSnapshot>('/v1/control/snapshot');
  const domIds = await page.locator('tbody tr[data-worker-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-worker-id')).sort());
  expect(domIds).toEqual(snapshot.workers.map((w) => w.id).sort());
  await screenshot(page, 'workers-reconnected');
});
