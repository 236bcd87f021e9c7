import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser } from '../../src-shared/util/SseParser.js';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { endlessTinyModelPath } from '../helpers/tinyModel.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * Honest endings through the OpenAI routes, with a real queen, hive and worker: a cut answer is never
 * a 200 with a finish_reason (docs/api.md, "Honest endings").
 */
let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen({
    workerPolicy: { backoff_base_ms: 100 },
    prepareModels: async (dir) => copyFileSync(await endlessTinyModelPath(), join(dir, ENDLESS)),
  });
  await q.spawn({ slots: 2 });
  await q.spawn({ model: ENDLESS, slots: 2 });
}, 180_000);
afterAll(async () => {
  await q?.close();
});

/** A model whose greedy answers never end by themselves: they run to max_tokens or the deadline. */
const ENDLESS = 'endless.gguf';
const LONG = { model: ENDLESS, prompt: 'Once upon a time', max_tokens: 2048, temperature: 0 };
/** Deadlines tried in turn until one cuts an answer after its first token (2048 tokens take ~0.7 s here). */
const DEADLINES_MS = [250, 500, 1_000];

async function post(path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${q.url}${path}`, { method: 'POST', headers: { ...q.auth, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** The `data:` payloads of an SSE answer, parsed (`[DONE]` kept as the string). */
async function frames(res: Response): Promise<unknown[]> {
  const parser = new SseParser();
  const out: unknown[] = [];
  for (const message of parser.push(await res.text())) out.push(message.data === '[DONE]' ? '[DONE]' : JSON.parse(message.data));
  return out;
}

interface CutBody {
  error: { code: string; type: string; partial?: { text: string; usage: { completion_tokens: number; total_tokens: number } } };
}

describe('honest endings: deadline', () => {
  it('finish_reason length means max_tokens was reached (control: the same request without a deadline problem)', async () => {
    const res = await post('/v1/completions', { ...LONG, max_tokens: 8 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ finish_reason: string }>; usage: { completion_tokens: number } };
    expect(body.choices[0]?.finish_reason).toBe('length');
    expect(body.usage.completion_tokens).toBe(8);
  });

  it('a non-streaming completion cut by its deadline is 504 deadline_exceeded with the partial text and usage', async () => {
    // The cut must land after the first token and before max_tokens. On a loaded machine the first
    // token can take longer than 250 ms; then the answer is still an honest 504 (with nothing in it),
    // and the next try allows more time.
    let tokens = 0;
    for (const deadlineMs of DEADLINES_MS) {
      const res = await post('/v1/completions', LONG, { 'x-deadline-remaining-ms': String(deadlineMs) });
      expect(res.status, `deadline ${deadlineMs} ms`).toBe(504);
      const body = (await res.json()) as CutBody;
      expect(body.error.code).toBe('deadline_exceeded');
      tokens = body.error.partial?.usage.completion_tokens ?? 0;
      if (tokens === 0) continue;
      expect(tokens).toBeLessThan(LONG.max_tokens);
      expect(typeof body.error.partial?.text).toBe('string');
      break;
    }
    expect(tokens).toBeGreaterThan(0);
  });

  it('a streamed chat completion cut by its deadline ends with an error frame, then [DONE], and no finish_reason', async () => {
    // As above: a deadline that passes before the first token is a plain 504 (no stream was started);
    // the next try allows more time.
    let res: Response | undefined;
    for (const deadlineMs of DEADLINES_MS) {
      res = await post(
        '/v1/chat/completions',
        { model: ENDLESS, messages: [{ role: 'user', content: LONG.prompt }], max_tokens: 2048, temperature: 0, stream: true },
        { 'x-deadline-remaining-ms': String(deadlineMs) },
      );
      if (res.status === 200) break;
      expect(res.status, `deadline ${deadlineMs} ms`).toBe(504);
      expect(((await res.json()) as CutBody).error.code).toBe('deadline_exceeded');
    }
    expect(res?.status).toBe(200);
    const all = await frames(res!);
    expect(all.at(-1)).toBe('[DONE]');
    expect(all.at(-2)).toMatchObject({ error: { code: 'deadline_exceeded' } });
    const finishes = all.flatMap((f) => (typeof f === 'object' && f !== null && 'choices' in f ? (f as { choices: Array<{ finish_reason: string | null }> }).choices : []));
    expect(finishes.every((c) => c.finish_reason === null)).toBe(true);
  });
});

describe('honest endings: include_usage on /v1/completions', () => {
  it('a completions stream with stream_options.include_usage ends with a usage chunk before [DONE]', async () => {
    // Greedy: deterministic, and this prompt does not end at once (sampled answers of the tiny model may).
    const res = await post('/v1/completions', { model: MODEL, prompt: 'Hello', max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const all = await frames(res);
    expect(all.at(-1)).toBe('[DONE]');
    const last = all.at(-2) as { choices: unknown[]; usage: { completion_tokens: number; prompt_tokens: number; total_tokens: number } };
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
    expect(last.usage.completion_tokens).toBeLessThanOrEqual(5);
    expect(last.usage.total_tokens).toBe(last.usage.prompt_tokens + last.usage.completion_tokens);
    // Without the option there is no usage chunk.
    const plain = await frames(await post('/v1/completions', { model: MODEL, prompt: 'Hello', max_tokens: 5, stream: true }));
    expect(plain.some((f) => typeof f === 'object' && f !== null && 'usage' in f)).toBe(false);
  });
});

describe('honest endings: the worker is lost mid-answer', () => {
  it('SIGKILL of the worker during a non-streaming completion: 502 upstream_error with the partial, or a complete answer from a retry', async () => {
    const snapshot = await q.waitFor(() => q.readyWorkers(ENDLESS).length === 1);
    const victim = snapshot.workers.find((w) => w.model === ENDLESS && w.pid !== null)!;
    const answer = post('/v1/completions', LONG, { 'x-deadline-remaining-ms': '60000' });
    // The job is running once the worker reports a busy slot (polled on the worker's own /health).
    for (let i = 0; i < 2_000; i++) {
      const health = (await (await fetch(`http://127.0.0.1:${victim.port}/health`)).json()) as { slots: { free: number; total: number } };
      if (health.slots.free < health.slots.total) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    // Both outcomes below are correct; this pause only makes "after the first token" the likely one.
    await new Promise((r) => setTimeout(r, 100));
    process.kill(victim.pid!, 'SIGKILL');
    const res = await answer;
    if (res.status === 200) {
      // Killed before its first token: retried on the restarted worker, and complete.
      const body = (await res.json()) as { choices: Array<{ finish_reason: string }> };
      expect(['stop', 'length']).toContain(body.choices[0]?.finish_reason);
      return;
    }
    expect(res.status).toBe(502);
    const body = (await res.json()) as CutBody;
    expect(body.error.code).toBe('upstream_error');
    expect(body.error.partial?.usage.completion_tokens).toBeGreaterThan(0);
    expect(typeof body.error.partial?.text).toBe('string');
  }, 120_000);
});
