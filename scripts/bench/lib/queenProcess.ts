import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BENCH_TOKEN = 'bench-token-0123456789abcdef';

export interface QueenProcess {
  url: string;
  pid: number;
  /** Milliseconds from spawn to the `listening` line. */
  listeningMs: number;
  headers: Record<string, string>;
  /** Resolves once `/v1/models` lists `model` (the local hive has reported its catalog). */
  waitForModel(model: string): Promise<void>;
  /** SIGTERM by pid, waits for the exit, removes the data dir. */
  stop(): Promise<void>;
}

/** A headless queen with its demo model, as `npm start` runs it (`bin/rbee.mjs queen --demo`), in a fresh data dir. */
export async function startQueenProcess(audit: 'disabled' | 'local' = 'disabled'): Promise<QueenProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rbee-bench-queen-'));
  const started = performance.now();
  const queen = spawn(process.execPath, ['bin/rbee.mjs', 'queen', '--demo', '--port', '0', '--data-dir', dataDir, '--audit', audit], {
    cwd: ROOT,
    env: { ...process.env, LLORCH_API_TOKEN: BENCH_TOKEN, RBEE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const stop = async (): Promise<void> => {
    if (queen.exitCode === null && queen.signalCode === null) {
      const exited = new Promise((resolve) => queen.once('exit', resolve));
      queen.kill('SIGTERM');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      queen.once('exit', (code) => reject(new Error(`queen exited ${code}`)));
      createInterface({ input: queen.stdout! }).on('line', (line) => {
        if (line.includes('"listening"')) resolve((JSON.parse(line) as { url: string }).url);
      });
    });
    const listeningMs = performance.now() - started;
    const headers = { authorization: `Bearer ${BENCH_TOKEN}` };
    // Until the local hive has reported its catalog the model is unknown (404): a client would retry,
    // so does this, every 20 ms.
    const waitForModel = async (model: string): Promise<void> => {
      for (;;) {
        const models = (await (await fetch(`${url}/v1/models`, { headers })).json()) as { data?: Array<{ id: string }> };
        if (models.data?.some((m) => m.id === model)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { url, pid: queen.pid!, listeningMs, headers, waitForModel, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
