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

  it('workers add / list / remove: a declared worker starts, is listed with its spec, and is removed', async () => {
    const add = startRbee('workers', ['add', '--hive', 'local', '--model', MODEL, '--id', 'cli-w', '--device', 'cpu', '--threads', '1', '--ctx', '256', '--slots', '1', '--idle-ttl-ms', '600000'], env);
    expect((await add.exited).code, add.output()).toBe(0);
    expect(add.output()).toContain('declared local/cli-w');
    await q.waitFor((s) => s.workers.some((w) => w.id === 'cli-w' && (w.state === 'idle' || w.state === 'busy')), 90_000);

    const list = startRbee('workers', ['ls'], env);
    expect((await list.exited).code).toBe(0);
    expect(list.output()).toMatch(/HIVE\s+WORKER\s+MODEL\s+STATE\s+SPEC\s+IDLE TTL/);
    expect(list.output()).toMatch(/local\s+cli-w\s+tiny\.gguf\s+(idle|busy)\s+enabled\s+10m/);
    const json = startRbee('workers', ['list', '--json'], env);
    expect((await json.exited).code).toBe(0);
    const entries = JSON.parse(json.output()) as Array<{ id: string; spec: { threads?: number } | null }>;
    expect(entries.find((e) => e.id === 'cli-w')?.spec?.threads).toBe(1);

    const rm = startRbee('workers', ['rm', 'local/cli-w'], env);
    expect((await rm.exited).code, rm.output()).toBe(0);
    await q.waitFor((s) => !s.workers.some((w) => w.id === 'cli-w'), 60_000);
    const again = startRbee('workers', ['remove', 'local/cli-w'], env);
    expect((await again.exited).code).toBe(1);
    expect(again.output()).toContain('404 WORKER_NOT_FOUND');
  }, 180_000);

  it('workers: bad usage exits 2, a refused spec exits 1 with the queen\'s reason', async () => {
    for (const args of [['add', '--hive', 'local'], ['add', '--model', MODEL], ['rm', 'no-slash'], ['add', '--hive', 'local', '--model', MODEL, '--gpu-layers', 'most'], ['add', '--hive', 'local', '--model', MODEL, '--slots', '0'], ['frob']]) {
      const proc = startRbee('workers', args, env);
      expect((await proc.exited).code, args.join(' ')).toBe(2);
      expect(proc.output()).toContain('usage: rbee workers');
    }
    const refused = startRbee('workers', ['add', '--hive', 'mars', '--model', MODEL], env);
    expect((await refused.exited).code).toBe(1);
    expect(refused.output()).toContain('404 HIVE_NOT_FOUND');
  }, 120_000);

  it('unknown commands and bad flags exit 2 with usage', async () => {
    const proc = startRbee('frobnicate', [], env);
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain('usage: rbee');
    const bad = startRbee('infer', ['--bogus'], env);
    expect((await bad.exited).code).toBe(2);
  });
});
