import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { commandLineOf, descendantsOf, isAlive } from '../helpers/processTree.js';
import { waitFor } from '../helpers/waitFor.js';

const TOKEN = 'queen-process-token-0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'rbee-queen-proc-'));
let queen: RbeeProcess | undefined;
afterAll(async () => {
  await queen?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function snapshot(url: string): Promise<ClusterSnapshot> {
  const res = await fetch(`${url}/v1/control/snapshot`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await res.json()) as ClusterSnapshot;
}

describe('rbee queen as a process', () => {
  it('a port already in use: exit 1 with a clear message, and no hive is left behind', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const proc = startRbee('queen', ['--port', String(port), '--data-dir', join(dataDir, 'busy'), '--audit', 'disabled'], { LLORCH_API_TOKEN: TOKEN });
      const exit = await proc.exited;
      expect(exit.code).toBe(1);
      expect(proc.output()).toContain('EADDRINUSE');
      expect(proc.output()).not.toContain('"event":"listening"');
    } finally {
      blocker.close();
    }
  });

  it('--demo serves the generated demo model; SIGKILL of the queen takes its local hive and workers down too', async () => {
    mkdirSync(join(dataDir, 'models'), { recursive: true });
    copyFileSync(await tinyModelPath(), join(dataDir, 'models', 'extra.gguf'));
    queen = startRbee('queen', ['--port', '0', '--data-dir', dataDir, '--demo', '--audit', 'disabled'], { LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' });
    const { url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening');
    const ready = await waitFor(() => snapshot(url), (s) => s.workers.some((w) => w.state === 'idle' && w.model === 'rbee-demo-tiny.gguf'), { what: 'the demo worker idle', timeoutMs: 60_000, intervalMs: 100 });
    expect(ready.models.find((m) => m.name === 'rbee-demo-tiny.gguf')?.is_demo).toBe(true);
    const workerPid = ready.workers[0]!.pid!;
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string };
    expect(health.status).toBe('ok');

    // Production children run the built bundle: no TypeScript loader, no .ts entry, anywhere below the
    // queen (the queen itself is started the same way, through rbeeCommand).
    const tree = [queen.pid, ...descendantsOf(queen.pid)];
    expect(tree).toContain(workerPid);
    for (const pid of tree) {
      const argv = commandLineOf(pid);
      expect(argv.join(' ')).not.toMatch(/tsx|\.ts\b/);
      expect(argv.some((a) => /out\/main\/(cli|workerStandby)\.js$/.test(a))).toBe(true);
    }

    queen.child.kill('SIGKILL');
    await queen.exited;
    // Nothing reports an unrelated process's exit to us: poll the pid.
    // Generous: hive and worker each notice a dead parent on their own, slowly on a loaded machine.
    await expect.poll(() => isAlive(workerPid), { timeout: 60_000, interval: 100 }).toBe(false);
  }, 180_000);
});
