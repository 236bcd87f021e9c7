import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';

/**
 * A real full disk: a small tmpfs mounted by the test (root needed, as for the sshd and netns tests:
 * without root this fails loudly instead of passing by skipping). The queen's audit root lives on it;
 * a filler file takes it below the writer's free-space margin (64 MiB by default).
 */
const MARGIN = 64 * 1024 * 1024;
let mountPoint = '';
let mounted = false;
let q: TestQueen | undefined;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('The audit full-disk test needs root (mount -t tmpfs).');
  mountPoint = mkdtempSync(join(tmpdir(), 'rbee-audit-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=80m,mode=0700', 'tmpfs', mountPoint]);
  mounted = true;
});

afterAll(async () => {
  await q?.close();
  if (mounted) execFileSync('umount', [mountPoint]);
  if (mountPoint) rmSync(mountPoint, { recursive: true, force: true });
});

async function metricsText(): Promise<string> {
  return (await fetch(`${q?.url}/metrics`, { headers: q?.auth })).text();
}

describe('audit health on a real full disk (tmpfs; docs/audit.md "Audit health", acceptance 5)', () => {
  it('raises audit_degraded in the snapshot and the metrics; with audit_fail_closed inference answers 503 until space returns', async () => {
    q = await startTestQueen({ extra: { auditMode: 'local', auditDir: join(mountPoint, 'audit') } });
    const queen = q.queen;
    expect((await queen.control.getSnapshot()).audit_degraded ?? null).toBeNull();
    await queen.control.updateSettings({ audit_fail_closed: true });
    expect((await fetch(`${q.url}/v1/models`, { headers: q.auth })).status).toBe(200);

    const free = statfsSync(mountPoint).bavail * statfsSync(mountPoint).bsize;
    const filler = join(mountPoint, 'filler');
    await writeFile(filler, Buffer.alloc(free - MARGIN / 2));
    // The writer probes free space at most once a second, when it writes: keep giving it something
    // to write (each settings change is audited) until it notices.
    await expect
      .poll(
        async () => {
          await queen.control.updateSettings({ audit_fail_closed: true }).catch(() => undefined);
          return (await queen.control.getSnapshot()).audit_degraded?.reason ?? null;
        },
        { timeout: 30_000, interval: 300 },
      )
      .toBe('low_disk');
    // One more audited change while low: this one is refused (and counted), not written.
    await queen.control.updateSettings({ audit_fail_closed: true });
    const degraded = (await queen.control.getSnapshot()).audit_degraded;
    expect(degraded).toMatchObject({ service_id: 'queen', reason: 'low_disk' });
    const metrics = await metricsText();
    expect(metrics).toMatch(/rbee_audit_degraded\{service="queen"\} 1/);
    expect(metrics).toMatch(/rbee_audit_degraded_total\{service="queen",reason="low_disk"\} 1/);
    expect(metrics).toMatch(/rbee_audit_rejected_total\{service="queen",reason="low_disk"\} [1-9]/);

    const refused = await fetch(`${q.url}/v1/models`, { headers: q.auth });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(JSON.stringify(await refused.json())).toMatch(/audit_unavailable/i);
    const chat = await fetch(`${q.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...q.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny.gguf', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
    });
    expect(chat.status).toBe(503);

    // Space returns: the next write records audit_writes_resumed, health clears, inference serves.
    await rm(filler);
    await expect
      .poll(
        async () => {
          await queen.control.updateSettings({ audit_fail_closed: true }).catch(() => undefined);
          return (await queen.control.getSnapshot()).audit_degraded ?? null;
        },
        { timeout: 30_000, interval: 300 },
      )
      .toBeNull();
    expect(await metricsText()).toMatch(/rbee_audit_degraded\{service="queen"\} 0/);
    expect((await fetch(`${q.url}/v1/models`, { headers: q.auth })).status).toBe(200);
    const resumed = await queen.control.queryAudit({ limit: 10, event_types: ['audit_writes_resumed'], service_id: 'queen' });
    expect(resumed.records[0]?.event).toMatchObject({ reason: 'disk_space_recovered' });
  }, 180_000);
});
