import type { BrowserContext, Page } from '@playwright/test';
import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import type { Settings } from '../src-shared/control/ControlApi.js';
import { expect, expectAccessible, login, readyWorker, screenshot, test, workerRow, type QueenRef } from './fixtures.js';

async function auditHas(audit: Page | null, types: string[], workerId: string): Promise<void> {
  if (!audit) return;
  const selector = types.map((t) => `tr[data-event-type="${t}"]`).join(', ');
  await expect(audit.locator(selector).filter({ hasText: workerId }).first()).toBeVisible({ timeout: 60_000 });
}

/**
 * A crash loop with a short breaker window, driven through the UI: the breaker badge opens with a
 * live countdown to half-open, "Reset breaker" closes it. With `followAudit`, a second tab on the
 * audit view must show each step live (crash, breaker opened, breaker reset/closed).
 */
async function crashLoop(page: Page, context: BrowserContext, queen: QueenRef, followAudit: boolean): Promise<void> {
  const original = await queen.current.control<Settings>('/v1/control/settings');
  let worker = await readyWorker(queen.current);

  let audit: Page | null = null;
  if (followAudit) {
    audit = await context.newPage();
    await login(audit, queen.current, 'audit');
    await expect(audit.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  }

  // Short breaker: 2 failures within a minute open it for 2 minutes (set through the Settings view).
  await login(page, queen.current, 'settings');
  await page.getByLabel('Breaker failures (failures)').fill('2');
  await page.getByLabel('Breaker window (ms)').fill('60000');
  await page.getByLabel('Breaker cooldown (ms)').fill('120000');
  await page.getByLabel('Max consecutive restarts (attempts)').fill('5');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('Settings saved.')).toBeVisible();

  try {
    await page.getByRole('link', { name: 'Workers' }).click();
    const row = workerRow(page, worker.id);
    await expect(row).toHaveAttribute('data-state', /idle|busy/);

    // Crash it until the breaker opens (2 failures in the window; an earlier test's crash may
    // already count as the first). Between crashes the hive restarts it.
    let killed = 0;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      killed = worker.pid!;
      process.kill(killed, 'SIGKILL');
      let outcome = 'waiting' as 'open' | 'restarted' | 'waiting';
      await expect
        .poll(
          async () => {
            const snapshot = await queen.current.control<ClusterSnapshot>('/v1/control/snapshot');
            const w = snapshot.workers.find((x) => x.id === worker.id);
            if (w?.breaker.state === 'open') outcome = 'open';
            else if (w && (w.state === 'idle' || w.state === 'busy') && w.pid !== killed) {
              worker = w;
              outcome = 'restarted';
            }
            return outcome;
          },
          { timeout: 60_000, intervals: [200, 500] },
        )
        .not.toBe('waiting');
      if (attempt === 0) await auditHas(audit, ['worker_crashed'], worker.id);
      if (outcome === 'open') break;
      await expect(row).toHaveAttribute('data-state', /idle|busy/, { timeout: 60_000 });
    }
    const badge = row.getByTestId('breaker').locator('.badge');
    await expect(badge).toHaveAttribute('data-breaker', 'open', { timeout: 60_000 });
    const countdown = row.getByTestId('breaker-countdown');
    await expect(countdown).toHaveText(/half-open in (1m \d\ds|\d+s)/);
    const first = await countdown.textContent();
    await expect(countdown).not.toHaveText(first ?? ''); // it counts down live (the default 30 s wait: a loaded machine may skip a tick)
    await auditHas(audit, ['breaker_opened'], worker.id);
    // One notice (a toast on the web) for the incident, however many events it took.
    const toast = page.getByTestId('toast');
    await expect(toast).toHaveCount(1);
    await expect(toast).toContainText(`Breaker opened for ${worker.id}`);
    await screenshot(page, 'workers-breaker-open');
    await expectAccessible(page, 'breaker toast');
    if (audit) await screenshot(audit, 'audit-breaker-open');

    // Operator reset closes it.
    await row.getByRole('button', { name: `Reset breaker ${worker.id}` }).click();
    await expect(badge).toHaveAttribute('data-breaker', 'closed', { timeout: 30_000 });
    await expect(toast).toHaveCount(1);
    await toast.getByRole('button', { name: /^Dismiss/ }).click();
    await expect(toast).toHaveCount(0);
    await auditHas(audit, ['breaker_reset', 'breaker_closed'], worker.id);

    // Bring the worker back if the reset did not restart it.
    const state = await row.getAttribute('data-state');
    if (state !== 'idle' && state !== 'busy' && state !== 'loading' && state !== 'backoff') {
      await row.getByRole('button', { name: `Start ${worker.id}` }).click();
    }
    await expect(row).toHaveAttribute('data-state', /idle|busy/, { timeout: 60_000 });
  } finally {
    await queen.current.control('/v1/control/settings', { method: 'PATCH', body: JSON.stringify({ restart_policy: original.restart_policy }) });
    await audit?.close();
  }
}

test('crash loop with a short breaker window: the badge opens with a countdown, reset closes it', async ({ page, queen, context }) => {
  await crashLoop(page, context, queen, false);
});

test('the crash loop appears step by step in the audit view, live', async ({ page, queen, context }) => {
  await crashLoop(page, context, queen, true);
});
