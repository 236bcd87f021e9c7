import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee } from '../helpers/childProcess.js';
import { startFakeHuggingFace, type FakeHuggingFace } from '../helpers/fakeHuggingFace.js';
import { splitTinyModelShards } from '../helpers/tinyModel.js';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';

/**
 * `rbee models pull` end to end: the CLI → a real queen → its real local hive child → a real local
 * HTTP server answering like Hugging Face (the network boundary; the hive finds it through
 * HF_ENDPOINT, and the queen's downloads_allow_loopback setting lets it reach 127.0.0.1).
 */
const shards = splitTinyModelShards(2, 21);
let hf: FakeHuggingFace;
let q: TestQueen;
let env: Record<string, string>;
const savedEndpoint = process.env.HF_ENDPOINT;

beforeAll(async () => {
  hf = await startFakeHuggingFace({
    'acme/Tiny-GGUF': { 'tiny-Q3_K_S-00001-of-00002.gguf': shards[0]!, 'tiny-Q3_K_S-00002-of-00002.gguf': shards[1]! },
  });
  process.env.HF_ENDPOINT = hf.base; // inherited by the queen's local hive child
  q = await startTestQueen({
    prepareModels: async (dir) => writeFileSync(join(dirname(dir), 'settings.json'), JSON.stringify({ version: 1, downloads_allow_loopback: true })),
  });
  env = { RBEE_URL: q.url, LLORCH_API_TOKEN: q.token };
}, 120_000);
afterAll(async () => {
  await q?.close();
  await new Promise((r) => hf?.server.close(r));
  if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = savedEndpoint;
});

describe('rbee models pull', () => {
  it('pulls a split model by tag as one model, lists it, and removes every shard', async () => {
    const first = 'tiny-Q3_K_S-00001-of-00002.gguf';
    const pull = startRbee('models', ['pull', 'local', 'hf:acme/Tiny-GGUF:q3_k_s'], env);
    expect((await pull.exited).code, pull.output()).toBe(0);
    expect(pull.output()).toContain(`→ local/${first}`);
    expect(pull.output()).toMatch(/done: local\/tiny-Q3_K_S-00001-of-00002\.gguf, .* 2 of 2 files/);
    await q.waitFor((s) => s.models.some((m) => m.name === first), 30_000);

    const list = startRbee('models', [], env);
    expect((await list.exited).code).toBe(0);
    expect(list.output()).toMatch(new RegExp(`${first.replace(/\./g, '\\.')}\\s+local.*split: 2 files`));

    const rm = startRbee('models', ['rm', `local/${first}`], env);
    expect((await rm.exited).code, rm.output()).toBe(0);
    const modelsDir = join(q.dataDir, 'models');
    expect(readdirSync(modelsDir).filter((f) => f.startsWith('tiny-Q3_K_S'))).toEqual([]);
    expect(existsSync(join(modelsDir, 'tiny-Q3_K_S-00002-of-00002.gguf'))).toBe(false);
  }, 120_000);

  it('a tag with no match exits 1 with the repo\'s tags; bad usage exits 2', async () => {
    const none = startRbee('models', ['pull', 'local', 'hf:acme/Tiny-GGUF:Q9_9'], env);
    expect((await none.exited).code).toBe(1);
    expect(none.output()).toContain('404 MODEL_NOT_FOUND');
    expect(none.output()).toContain('available tags: Q3_K_S');
    const usage = startRbee('models', ['pull', 'local'], env);
    expect((await usage.exited).code).toBe(2);
    expect(usage.output()).toContain('hf:USER/REPO:TAG');
  }, 60_000);
});
