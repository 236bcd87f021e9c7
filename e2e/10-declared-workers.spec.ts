import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import type { WorkerEntry } from '../src-shared/control/workerSpecTypes.js';
import { expect, expectAccessible, login, readyWorker, screenshot, test, workerRow } from './fixtures.js';

/**
 * Declared workers in the dashboard against the real headless queen: the demo worker is a spec, a
 * spec declared over the API appears with its worker, a disabled spec shows as a row without a
 * process, and the operator deletes both from the Workers view (the entries and the specs go).
 */
test('declared workers: specs shown with their state and TTL; an operator deletes a spec and its worker', async ({ page, queen }) => {
  const demo = await readyWorker(queen.current);
  await login(page, queen.current, 'workers');
  // The demo worker is one declared spec.
  await expect(workerRow(page, demo.id).getByTestId('spec-state')).toHaveText('enabled');

  const created = await queen.current.control<WorkerEntry>('/v1/control/workers', {
    method: 'POST',
    body: JSON.stringify({ hive_id: 'local', id: 'e2e-declared', model: demo.model, device: 'cpu', threads: 1, ctx: 256, slots: 1, idle_ttl_ms: 600_000 }),
  });
  expect(created.spec).toMatchObject({ id: 'e2e-declared', enabled: true, ephemeral: false });
  await queen.current.control('/v1/control/workers', {
    method: 'POST',
    body: JSON.stringify({ hive_id: 'local', id: 'e2e-disabled', model: demo.model, enabled: false }),
  });

  const row = workerRow(page, 'e2e-declared');
  await expect(row).toHaveAttribute('data-state', /loading|idle|busy/, { timeout: 60_000 });
  await expect(row.getByTestId('spec-state')).toHaveText('enabled');
  await expect(row.getByTestId('spec-ttl')).toHaveText('idle TTL 10 min');
  const disabled = page.locator('tr[data-spec-id="e2e-disabled"]');
  await expect(disabled.getByTestId('spec-state')).toHaveText('disabled');
  await expect(row).toHaveAttribute('data-state', /idle|busy/, { timeout: 90_000 });
  await expectAccessible(page, 'workers view with specs');
  await screenshot(page, 'workers-declared');

  // Delete asks first, then the worker stops and its row goes; the spec is gone from the API too.
  await page.getByRole('button', { name: 'Delete e2e-declared' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete worker e2e-declared?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Delete worker' }).click();
  await expect(row).toHaveCount(0, { timeout: 60_000 });
  await page.getByRole('button', { name: 'Delete e2e-disabled' }).click();
  await page.getByRole('dialog', { name: 'Delete worker e2e-disabled?' }).getByRole('button', { name: 'Delete worker' }).click();
  await expect(disabled).toHaveCount(0, { timeout: 30_000 });

  const { workers } = await queen.current.control<{ workers: WorkerEntry[] }>('/v1/control/workers');
  expect(workers.map((e) => e.id)).toEqual([demo.id]);
  const snapshot = await queen.current.control<ClusterSnapshot>('/v1/control/snapshot');
  expect(snapshot.workers.map((w) => w.id)).toEqual([demo.id]);
  await expect(workerRow(page, demo.id)).toHaveAttribute('data-state', /idle|busy/);
});
