import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee } from '../helpers/childProcess.js';
import { MODEL, startTestQueen, type TestQueen } from '../queen/queenHarness.js';

let q: TestQueen;
let env: Record<string, string>;
beforeAll(async () => {
  q = await startTestQueen();
  await q.spawn({ slots: 1 });
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
    const proc = startRbee('infer', ['--model', MODEL, '--max-tokens', '2048', 'Go on forever'], env);
    // Tokens on stdout = the job is streaming.
    await proc.waitForOutput((out) => out.length > 20);
    proc.child.kill('SIGINT');
    const exit = await proc.exited;
    expect(exit.code).toBe(130);
    expect(proc.output()).toContain('[cancelled]');
    const next = startRbee('infer', ['--model', MODEL, '--max-tokens', '2', 'next'], env);
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
