import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import { startSshd, type SshdHandle } from '../tests/helpers/sshd.js';
import { expect, expectAccessible, login, screenshot, test, TOKEN } from './fixtures.js';
import { QueenProcess } from './queenProcess.js';

/**
 * "Add a remote hive", driven in Chromium against a real sshd on 127.0.0.1: the dashboard shows the
 * unknown host key's fingerprint (the one sshd really has), the operator trusts it, the queen deploys
 * the hive over SFTP (the runtime closure packed here: `--remote-deps upload`, no registry needed),
 * starts it over SSH, and the new hive's card comes online. Needs root (sshd), as the SSH tests do.
 */
test('add a remote hive over SSH from the dashboard: host key shown, trusted, deployed, online', async ({ page }) => {
  test.setTimeout(600_000);
  const remoteData = mkdtempSync(join(tmpdir(), 'rbee-e2e-remote-'));
  let sshd: SshdHandle | undefined;
  let queen: QueenProcess | undefined;
  try {
    sshd = await startSshd();
    queen = await QueenProcess.start({ token: TOKEN, demo: false, args: ['--remote-deps', 'upload', '--remote-data-dir', remoteData] });
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
