import { copyFileSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS_RESCAN_ENV } from '../../src-main/cli/commands/hiveCommand.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * The hive's safety-net rescan (5 s by default) is pushed out to a day for this file's hive child: a
 * change listed at all (inside the test's timeout) was found by the folder watch (or, for a file still
 * being written, the watcher's short re-look), never by the periodic rescan. No wall clock involved.
 */
const NO_SAFETY_NET_RESCAN_MS = String(86_400_000);

let q: TestQueen;
let savedRescanEnv: string | undefined;
beforeAll(async () => {
  savedRescanEnv = process.env[MODELS_RESCAN_ENV];
  process.env[MODELS_RESCAN_ENV] = NO_SAFETY_NET_RESCAN_MS; // the queen's hive child inherits it
  q = await startTestQueen();
}, 120_000);
afterAll(async () => {
  await q?.close();
  if (savedRescanEnv === undefined) delete process.env[MODELS_RESCAN_ENV];
  else process.env[MODELS_RESCAN_ENV] = savedRescanEnv;
});

const modelsDir = (): string => join(q.dataDir, 'models');
const listed = (name: string) => (s: { models: { name: string }[] }) => s.models.some((m) => m.name === name);

describe('queen + real hive child: the watched models folder', () => {
  it('a GGUF copied into the folder is hidden while half-copied, listed once complete, and answers a request; deleted, it disappears', async () => {
    const whole = await readFile(await tinyModelPath(2));
    const target = join(modelsDir(), 'dropped.gguf');
    const handle = await open(target, 'w');
    await handle.write(whole, 0, Math.floor(whole.length / 2), 0);
    // A complete marker written after the half: once it is listed, a scan has seen the half file too.
    copyFileSync(await tinyModelPath(), join(modelsDir(), 'marker.gguf'));
    const seen = await q.waitFor(listed('marker.gguf'), 30_000);
    expect(seen.models.map((m) => m.name)).not.toContain('dropped.gguf');
    const early = await complete('dropped.gguf');
    expect(early.status).toBe(404);

    const finishedAt = Date.now();
    await handle.write(whole, Math.floor(whole.length / 2), whole.length - Math.floor(whole.length / 2), Math.floor(whole.length / 2));
    await handle.close();
    await q.waitFor(listed('dropped.gguf'), 30_000);
    const listedAfterMs = Date.now() - finishedAt;
    console.log(`completed copy listed by the queen after ${listedAfterMs} ms (information only)`);

    // Served by a worker on the dropped file. (Not "some text": the tiny model may end at once.)
    const answer = await complete('dropped.gguf');
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0]?.finish_reason).toMatch(/^(stop|length)$/);

    const removedAt = Date.now();
    rmSync(target);
    await q.waitFor((s) => !listed('dropped.gguf')(s), 30_000);
    const goneAfterMs = Date.now() - removedAt;
    console.log(`deleted model left the queen's list after ${goneAfterMs} ms (information only)`);
  }, 120_000);
});

async function complete(model: string): Promise<{ status: number; body: { choices: { text: string; finish_reason: string | null }[] } }> {
  const res = await fetch(`${q.url}/v1/completions`, {
    method: 'POST',
    headers: { ...q.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'hello', max_tokens: 4 }),
  });
  return { status: res.status, body: (await res.json()) as { choices: { text: string; finish_reason: string | null }[] } };
}
