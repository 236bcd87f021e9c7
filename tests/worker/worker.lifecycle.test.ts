import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../helpers/processTree.js';
import { startWorker } from '../helpers/startWorker.js';
import { endOf, streamInference } from '../helpers/sseClient.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

describe('worker lifecycle', () => {
  it('SIGTERM lets an in-flight stream finish cleanly, then exits 0', async () => {
    const worker = await startWorker({ args: ['--drain-ms', '3000'] });
    let markToken!: () => void;
    const gotToken = new Promise<void>((r) => (markToken = r));
    const stream = streamInference(`${worker.url}/v1/inference`, { prompt: 'drain', max_tokens: 300, ignore_eos: true }, { authorization: `Bearer ${worker.token}` }, {
      onEvent: (e) => e.event !== 'done' && e.event.type === 'token' && markToken(),
    });
    await gotToken;
    worker.child.kill('SIGTERM');
    const [result, exit] = await Promise.all([stream, worker.exited]);
    expect(endOf(result)?.stop_reason).toBe('max_tokens');
    expect(result.events.at(-1)?.event).toBe('done');
    expect(exit.code).toBe(0);
  });

  it('SIGTERM cancels a stream that outlasts the drain bound (stop_reason cancelled), exit 0', async () => {
    const worker = await startWorker({ args: ['--drain-ms', '100'] });
    let markToken!: () => void;
    const gotToken = new Promise<void>((r) => (markToken = r));
    const stream = streamInference(`${worker.url}/v1/inference`, { prompt: 'long', max_tokens: 2048, ignore_eos: true }, { authorization: `Bearer ${worker.token}` }, {
      onEvent: (e) => e.event !== 'done' && e.event.type === 'token' && markToken(),
    });
    await gotToken;
    worker.child.kill('SIGTERM');
    const [result, exit] = await Promise.all([stream, worker.exited]);
    expect(endOf(result)?.stop_reason).toBe('cancelled');
    expect(exit.code).toBe(0);
  });

  it('POST /v1/shutdown (authenticated) stops the worker with exit 0; unauthenticated it is refused', async () => {
    const worker = await startWorker();
    const anonymous = await fetch(`${worker.url}/v1/shutdown`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    const res = await fetch(`${worker.url}/v1/shutdown`, { method: 'POST', headers: { authorization: `Bearer ${worker.token}` } });
    expect(res.status).toBe(202);
    expect((await worker.exited).code).toBe(0);
  });

  it('a worker whose parent is SIGKILLed exits on its own (no orphans)', async () => {
    const require = createRequire(import.meta.url);
    const parentScript = fileURLToPath(new URL('../helpers/forkingParent.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--import', require.resolve('tsx/esm'), parentScript, await tinyModelPath()], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const childPid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: parent.stdout! }).on('line', (line) => {
        const m = JSON.parse(line) as { event: string; pid: number };
        if (m.event === 'child_ready') resolve(m.pid);
      });
      parent.once('exit', () => reject(new Error('parent exited early')));
    });
    expect(isAlive(childPid)).toBe(true);
    parent.kill('SIGKILL');
    // No event reaches us from an unrelated process's exit: poll its pid.
    await expect.poll(() => isAlive(childPid), { timeout: 30_000, interval: 100 }).toBe(false);
  }, 90_000);

  it('a model file that is not GGUF fails to load: load_failed is announced, exit 1', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const bad = join(mkdtempSync(join(tmpdir(), 'rbee-bad-')), 'corrupt.gguf');
    writeFileSync(bad, Buffer.from('GGUF this is not a model'));
    const { startRbee } = await import('../helpers/childProcess.js');
    // A worker never runs without its token (its hive hands one to each worker).
    const proc = startRbee('worker', ['--model', bad, '--threads', '1', '--device', 'cpu'], { RBEE_WORKER_TOKEN: 'lifecycle-worker-token-0123' });
    const failed = await proc.waitForLine<{ message: string }>((l) => l.event === 'load_failed');
    expect(failed.message).toMatch(/unsupported GGUF version/);
    expect((await proc.exited).code).toBe(1);
  });
});
