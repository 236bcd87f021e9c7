import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import { DEMO_MODEL_FILE } from '../src-main/models/ensureTinyModel.js';
import { startSshd, type SshdHandle } from '../tests/helpers/sshd.js';
import { expect, expectAccessible, login, screenshot, test, TOKEN } from './fixtures.js';
import { QueenProcess } from './queenProcess.js';

/**
 * "Add a remote hive", driven in Chromium against a real sshd on 127.0.0.1: the dashboard shows the
 * unknown host key's fingerprint (the one sshd really has), the operator trusts it, the queen deploys
 * the hive over SFTP (the runtime closure packed here: `--remote-deps upload`, no registry needed),
 * starts it over SSH, and the new hive's card comes online. Then the Models view copies the demo model
 * of this machine to the new hive over SFTP; the transfer shows in the list until the remote hive's
 * catalog lists the model. Needs root (sshd), as the SSH tests do.
 */
test('add a remote hive over SSH from the dashboard: host key shown, trusted, deployed, online; copy a model to it', async ({ page }) => {
  test.setTimeout(600_000);
  const remoteData = mkdtempSync(join(tmpdir(), 'rbee-e2e-remote-'));
  let sshd: SshdHandle | undefined;
  let queen: QueenProcess | undefined;
  try {
    sshd = await startSshd();
    queen = await QueenProcess.start({ token: TOKEN, args: ['--remote-deps', 'upload', '--remote-data-dir', remoteData] });
    await login(page, queen, 'cluster');
    await page.getByText('Add a remote hive (SSH)').click();
    await page.getByLabel('Host or SSH alias').fill(sshd.host);
    await page.getByLabel('Port').fill(String(sshd.port));
    await page.getByLabel('User').fill(sshd.user);
    await page.getByLabel('Private key file').fill(sshd.clientKeyPath);
    await page.getByLabel('Display name').fill('chromium-lab');
    await page.getByRole('button', { name: 'Connect and check' }).click();

    // The unknown key: exactly the fingerprint sshd's host key has.
    await expect(page.getByTestId('host-fingerprint')).toHaveText(sshd.hostFingerprint());
    await expectAccessible(page, 'add remote hive: unknown host key');
    await page.getByRole('button', { name: 'Trust this key and add' }).click();
    await expect(page.getByText('Hive chromium-lab added.')).toBeVisible({ timeout: 300_000 });

    const card = page.locator('article.hive-card[data-hive-id="chromium-lab"]');
    await expect(card).toHaveAttribute('data-state', 'online', { timeout: 120_000 });
    await screenshot(page, 'cluster-remote-hive-added');
    // The queen agrees, and the hive is a real process the sshd session started.
    const snapshot = await queen.control<ClusterSnapshot>('/v1/control/snapshot');
    expect(snapshot.hives.find((h) => h.id === 'chromium-lab')).toMatchObject({ kind: 'remote', state: 'online' });

    // Copy this machine's demo model to the new hive from the Models view.
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Copy a model to a remote hive' }) });
    await form.getByLabel('Model on this machine').selectOption(DEMO_MODEL_FILE);
    await form.getByLabel('Remote hive').selectOption('chromium-lab');
    await form.getByRole('button', { name: 'Copy over SSH' }).click();
    await expect(page.getByTestId('upload-status')).toContainText(`Copying ${DEMO_MODEL_FILE} to hive chromium-lab`);
    const transfer = page.locator('ul.downloads li', { hasText: `upload:${DEMO_MODEL_FILE}` });
    await expect(transfer).toHaveAttribute('data-state', 'done', { timeout: 120_000 });
    // The remote hive's catalog lists it: its own card in the Models view, and the bytes on its disk.
    const remoteCard = page.locator('div.card', { has: page.getByRole('heading', { name: 'Hive chromium-lab' }) });
    await expect(remoteCard.locator(`tr[data-model="${DEMO_MODEL_FILE}"]`)).toBeVisible();
    await expectAccessible(page, 'models: copy to a remote hive');
    expect(readFileSync(join(remoteData, 'models', DEMO_MODEL_FILE)).length).toBeGreaterThan(0);
  } finally {
    await queen?.control(`/v1/control/hives/chromium-lab?stop=true`, { method: 'DELETE' }).catch(() => undefined);
    await queen?.stop();
    queen?.removeDataDir();
    await sshd?.stop();
    // A hive sshd started detached (setsid) outlives its session: if the removal above failed, end
    // whatever still runs from this test's remote data folder, by pid.
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(remoteData)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(remoteData, { recursive: true, force: true });
  }
});
