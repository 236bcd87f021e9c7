import type { Settings } from '../src-shared/control/ControlApi.js';
import { expect, expectAccessible, login, test, TOKEN } from './fixtures.js';
import { QueenProcess } from './queenProcess.js';

/**
 * The Settings form's audit part against a real queen: retention in days, a size cap in MiB and
 * fail-closed are saved through the control API, survive a reload, and a value the queen would refuse
 * is caught in the form with the field named, saving nothing.
 */
test('settings: audit retention, size cap and fail-closed are saved, reloaded, and bad values refused in the form', async ({ page }) => {
  const queen = await QueenProcess.start({ token: TOKEN, demo: false });
  try {
    await login(page, queen, 'settings');
    const days = page.getByLabel('Keep audit files (days)');
    const cap = page.getByLabel('Largest audit chain (MiB)');
    const failClosed = page.getByLabel(/Refuse inference while the audit log cannot write/);
    await expect(days).toHaveValue('');
    await expect(cap).toHaveValue('');

    await days.fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect(page.getByText('A whole number of days from 1 to 36 500, or blank to keep files forever.')).toBeVisible();
    await expect(days).toBeFocused();
    expect((await queen.control<Settings>('/v1/control/settings')).audit_retention_days).toBeNull();

    await days.fill('30');
    await cap.fill('64');
    await failClosed.check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect(page.getByText('Settings saved.')).toBeVisible();
    await expect
      .poll(async () => {
        const s = await queen.control<Settings>('/v1/control/settings');
        return [s.audit_retention_days, s.audit_max_bytes, s.audit_fail_closed];
      })
      .toEqual([30, 64 * 1024 * 1024, true]);

    await page.reload();
    await expect(page.getByLabel('Keep audit files (days)')).toHaveValue('30');
    await expect(page.getByLabel('Largest audit chain (MiB)')).toHaveValue('64');
    await expect(page.getByLabel(/Refuse inference while the audit log cannot write/)).toBeChecked();
    await expectAccessible(page, 'settings: audit retention');
  } finally {
    await queen.stop();
    queen.removeDataDir();
  }
});
