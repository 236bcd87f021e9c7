import { copyFileSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { startTestQueen, type TestQueen } from './queenHarness.js';

/** Looks again before the hive's 5 s safety-net rescan would: only the folder watch can explain it. */
const BEFORE_RESCAN_MS = 4_500;

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen();
}, 120_000);
afterAll(async () => {
  await q?.close();
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
    const seen = await q.waitFor(listed('marker.gguf'), 10_000);
    expect(seen.models.map((m) => m.name)).not.toContain('dropped.gguf');
    const early = await complete('dropped.gguf');
    expect(early.status).toBe(404);

    const finishedAt = Date.now();
    await handle.write(whole, Math.floor(whole.length / 2), whole.length - Math.floor(whole.length / 2), Math.floor(whole.length / 2));
    await handle.close();
    await q.waitFor(listed('dropped.gguf'), 10_000);
    const listedAfterMs = Date.now() - finishedAt;
    console.log(`completed copy listed by the queen after ${listedAfterMs} ms`);
    expect(listedAfterMs).toBeLessThan(BEFORE_RESCAN_MS);

    const answer = await complete('dropped.gguf');
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0]?.text.length).toBeGreaterThan(0);

    const removedAt = Date.now();
    rmSync(target);
    await q.waitFor((s) => !listed('dropped.gguf')(s), 10_000);
    const goneAfterMs = Date.now() - removedAt;
    console.log(`deleted model left the queen's list after ${goneAfterMs} ms`);
    expect(goneAfterMs).toBeLessThan(BEFORE_RESCAN_MS);
  }, 120_000);
});

async function complete(model: string): Promise<{ status: number; body: { choices: { text: string }[] } }> {
  const res = await fetch(`${q.url}/v1/completions`, {
    method: 'POST',
    headers: { ...q.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'hello', max_tokens: 4 }),
  });
  return { status: res.status, body: (await res.json()) as { choices: { text: string }[] } };
}
