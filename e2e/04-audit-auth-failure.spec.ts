import { readFileSync } from 'node:fs';
import { expect, expectAccessible, login, screenshot, test } from './fixtures.js';
import { tokenFingerprint } from './queenProcess.js';

test('a wrong API key shows up live as auth_failure with its fingerprint, filterable by type', async ({ page, queen }) => {
  await login(page, queen.current, 'audit');
  await page.getByLabel('Event type').selectOption('auth_failure');

  const wrong = `wrong-key-${Date.now()}`;
  const response = await fetch(`${queen.current.url}/v1/models`, { headers: { Authorization: `Bearer ${wrong}` } });
  expect(response.status).toBe(401);
  const fp = tokenFingerprint(wrong);

  const row = page.locator('tr[data-event-type="auth_failure"]').filter({ hasText: fp });
  await expect(row).toHaveCount(1, { timeout: 30_000 });
  // Only auth_failure rows under this filter.
  const types = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-type')));
  expect(new Set(types)).toEqual(new Set(['auth_failure']));

  // Detail drawer.
  await row.getByRole('button').click();
  const drawer = page.getByTestId('audit-drawer');
  await expect(drawer).toBeVisible();
  await expect(drawer.getByTestId('audit-actor')).toHaveText(fp);
  await expect(drawer).not.toContainText(wrong); // the token itself is never shown
  await screenshot(page, 'audit-drawer');
  await page.keyboard.press('Escape');
  await expect(drawer).toBeHidden();

  // Paging survives a reload of the filter (history from the queen, not only the live tail).
  await page.getByLabel('Event type').selectOption('');
  await page.getByLabel('Event type').selectOption('auth_failure');
  await expect(row).toHaveCount(1);

  // Chain verification and JSONL export.
  await page.getByRole('button', { name: 'Verify chain' }).click();
  await expect(page.getByTestId('verify-status')).toHaveText(/Chain intact: \d+ entries/);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export JSONL' }).click();
  const file = await (await download).path();
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const records = lines.map((l) => JSON.parse(l) as { event: { event_type: string; actor?: string } });
  expect(records.some((r) => r.event.event_type === 'auth_failure' && r.event.actor === fp)).toBe(true);
  await expectAccessible(page, 'audit');
});
