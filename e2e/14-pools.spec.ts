import type { PoolInfo } from '../src-shared/control/poolSchemas.js';
import { expect, expectAccessible, login, readyWorker, screenshot, test, TOKEN } from './fixtures.js';

/**
 * The Pools view against a real queen: one pool is the queen itself (a real OpenAI-compatible engine
 * answering on its own /v1), one points where nothing listens. The view shows health, breaker,
 * latency and models; "Check now" and "Reset breaker" go through the control API.
 */
test('pools: health, breaker and models shown; check now and reset breaker work', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  const q = queen.current;
  await q.control('/v1/control/pools', { method: 'POST', body: JSON.stringify({ name: 'self', base_url: `${q.url}/v1`, api_key: TOKEN, models: [`chat=${worker.model}`] }) });
  // One failed check opens this pool's breaker; checks run every 200 ms.
  await q.control('/v1/control/pools', { method: 'POST', body: JSON.stringify({ name: 'gone', base_url: 'http://127.0.0.1:1/v1', breaker_failures: 1, health_period_ms: 200, breaker_cooldown_ms: 600_000 }) });
  try {
    await expect
      .poll(async () => (await q.control<{ pools: PoolInfo[] }>('/v1/control/pools')).pools.find((p) => p.name === 'gone')?.breaker.state, { timeout: 30_000 })
      .toBe('open');

    await login(page, q, 'pools');
    await expect(page.getByRole('heading', { level: 1, name: 'Pools' })).toBeVisible();
    const self = page.locator('tr[data-pool="self"]');
    const gone = page.locator('tr[data-pool="gone"]');
    await expect(self.locator('[data-health="online"]')).toBeVisible();
    await expect(self).toContainText('self/chat');
    await expect(self.locator('[data-breaker="closed"]')).toBeVisible();
    await expect(gone.locator('[data-health="unreachable"]')).toBeVisible();
    await expect(gone.locator('[data-breaker="open"]')).toBeVisible();
    await screenshot(page, 'view-pools');
    await expectAccessible(page, 'pools');

    await self.getByRole('button', { name: 'Check now: self' }).click();
    await expect(page.getByTestId('pool-notice')).toContainText(/self answered in [\d.]+ ms, listing \d+ model/);

    await gone.getByRole('button', { name: 'Reset breaker of gone' }).click();
    await expect(page.getByTestId('pool-notice')).toContainText('The breaker of gone is closed.');
    const audit = await q.control<{ records: Array<{ event: { event_type: string; details?: Record<string, unknown> } }> }>('/v1/control/audit?event_types=breaker_reset');
    expect(audit.records.some((r) => r.event.details?.pool === 'gone')).toBe(true);
  } finally {
    await q.control('/v1/control/pools/self', { method: 'DELETE' });
    await q.control('/v1/control/pools/gone', { method: 'DELETE' });
  }
});
