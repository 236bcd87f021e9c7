import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee } from '../helpers/childProcess.js';
import { endlessTinyModelPath } from '../helpers/tinyModel.js';
import { MODEL, startTestQueen, type TestQueen } from '../queen/queenHarness.js';

/**
 * Answers of this model never end by themselves and its context holds 2048 answer tokens: a job that is
 * still streaming when Ctrl-C arrives, however loaded the machine.
 */
const ENDLESS = 'endless.gguf';
const ENDLESS_CTX = 4_096;

let q: TestQueen;
let env: Record<string, string>;
beforeAll(async () => {
  q = await startTestQueen({ prepareModels: async (dir) => copyFileSync(await endlessTinyModelPath(1, ENDLESS_CTX), join(dir, ENDLESS)) });
  await q.spawn({ slots: 1 });
  await q.spawn({ slots: 1, model: ENDLESS, ctx: ENDLESS_CTX });
  env = { RBEE_URL: q.url, LLORCH_API_TOKEN: q.token };
});
afterAll(async () => {
  await q?.close();
});

describe('rbee CLI against a real queen', () => {
  it('infer streams tokens to stdout and statistics to stderr', async () => {
    const proc = startRbee('infer', ['--model', MODEL, '--max-tokens', '8', 'Hello'], env);
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(proc.output()).toMatch(/\[8 tokens, [\d.]+ tok\/s, first token \d+ ms, stop: max_tokens\]|\[\d+ tokens, .*stop: eos\]/);
  });

  it('infer: Ctrl-C (SIGINT) cancels the job and exits 130; the slot is free again', async () => {
    const proc = startRbee('infer', ['--model', ENDLESS, '--max-tokens', '2048', 'Go on forever'], env);
    // Tokens on stdout = the job is streaming. The worker is then frozen (SIGSTOP) so the answer
    // cannot finish before Ctrl-C lands, however loaded the machine; it resumes once the CLI is gone.
    await proc.waitForOutput((out) => out.length > 20);
    const worker = (await q.queen.control.getSnapshot()).workers.find((w) => w.model === ENDLESS);
    if (!worker?.pid) throw new Error('the endless worker has no pid');
    process.kill(worker.pid, 'SIGSTOP');
    let exit: Awaited<typeof proc.exited>;
    try {
      proc.child.kill('SIGINT');
      exit = await proc.exited;
    } finally {
      process.kill(worker.pid, 'SIGCONT');
    }
    expect(exit.code, proc.output()).toBe(130);
    expect(proc.output()).toContain('[cancelled]');
    // The endless worker has one slot: this answer proves the cancelled job freed it.
    const next = startRbee('infer', ['--model', ENDLESS, '--max-tokens', '2', 'next'], env);
    expect((await next.exited).code).toBe(0);
  });

  it('infer with a wrong token explains the refusal and exits 1', async () => {
    const proc = startRbee('infer', ['--model', MODEL, 'x'], { ...env, LLORCH_API_TOKEN: 'nope' });
    expect((await proc.exited).code).toBe(1);
    expect(proc.output()).toContain('401 INVALID_API_KEY');
  });

  it('workers and models print tables', async () => {
    const workers = startRbee('workers', [], env);
    expect((await workers.exited).code).toBe(0);
    expect(workers.output()).toMatch(/HIVE\s+WORKER\s+MODEL\s+STATE/);
    expect(workers.output()).toContain(MODEL);
    const models = startRbee('models', [], env);
    expect((await models.exited).code).toBe(0);
    expect(models.output()).toMatch(new RegExp(`${MODEL.replace('.', '\\.')}\\s+local`));
  });

  it('unknown commands and bad flags exit 2 with usage', async () => {
    const proc = startRbee('frobnicate', [], env);
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain('usage: rbee');
    const bad = startRbee('infer', ['--bogus'], env);
    expect((await bad.exited).code).toBe(2);
  });
});
