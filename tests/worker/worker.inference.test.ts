import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type TestWorker } from '../helpers/startWorker.js';
import { endOf, streamInference, tokensOf } from '../helpers/sseClient.js';
import { waitFor } from '../helpers/waitFor.js';

let worker: TestWorker;
const auth = (): Record<string, string> => ({ authorization: `Bearer ${worker.token}` });
const health = async (): Promise<{ slots: { total: number; free: number } }> =>
  (await fetch(`${worker.url}/health`)).json() as Promise<{ slots: { total: number; free: number } }>;

/** Waits until the worker reports `free` free slots (health is the worker's own view). */
async function waitForFreeSlots(free: number, withinMs: number): Promise<void> {
  await waitFor(health, (h) => h.slots.free === free, { what: `${free} free slots`, timeoutMs: withinMs, intervalMs: 20 });
}

beforeAll(async () => {
  worker = await startWorker({ slots: 2 });
});
afterAll(async () => {
  await worker?.stop();
});

describe('worker inference (real node-llama-cpp, tiny model)', () => {
  it('streams started, tokens one by one, end and [DONE], honouring max_tokens', async () => {
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'Hello there', max_tokens: 24, temperature: 0, ignore_eos: true }, auth());
    expect(result.status).toBe(200);
    const types = result.events.map((e) => (e.event === 'done' ? 'done' : e.event.type));
    expect(types[0]).toBe('started');
    expect(types.at(-2)).toBe('end');
    expect(types.at(-1)).toBe('done');
    const end = endOf(result)!;
    expect(end.stop_reason).toBe('max_tokens');
    expect(end.tokens_out).toBe(24);
    const tokens = tokensOf(result);
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.length).toBeLessThanOrEqual(24);
    // Indices increase strictly: each event carries the next token(s), never a replay.
    for (let k = 1; k < tokens.length; k++) expect(tokens[k]!.i).toBeGreaterThan(tokens[k - 1]!.i);
    expect(result.headers.get('x-request-id')).toBeTruthy();
  });

  it('renders chat messages with the model’s chat template and streams the answer', async () => {
    const result = await streamInference(
      `${worker.url}/v1/inference`,
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }], max_tokens: 12, ignore_eos: true },
      auth(),
    );
    expect(result.status).toBe(200);
    expect(endOf(result)?.tokens_out).toBeGreaterThan(0);
    expect(['max_tokens', 'stop_sequence']).toContain(endOf(result)?.stop_reason);
  });

  it('delivers the first token before the last one is generated', async () => {
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'Stream me', max_tokens: 1500, ignore_eos: true }, auth());
    const firstToken = result.events.find((e) => e.event !== 'done' && e.event.type === 'token')!;
    const end = result.events.find((e) => e.event !== 'done' && e.event.type === 'end')!;
    expect(endOf(result)!.tokens_out).toBeGreaterThan(100);
    // Generation of ~1500 tokens takes hundreds of ms; a buffered response would deliver everything at once.
    expect(end.at - firstToken.at).toBeGreaterThan(50);
    // Tokens arrive over many separate reads (the worker writes every ~10 ms), not in one burst.
    const arrivalTimes = new Set(result.events.filter((e) => e.event !== 'done' && e.event.type === 'token').map((e) => e.at));
    expect(arrivalTimes.size).toBeGreaterThan(5);
  });

  it('serves two requests concurrently on two slots and refuses the third with 503 ALL_SLOTS_BUSY', async () => {
    const controllers = [new AbortController(), new AbortController()];
    const started: Array<Promise<void>> = [];
    const streams = controllers.map((c) => {
      let markStarted!: () => void;
      started.push(new Promise<void>((r) => (markStarted = r)));
      return streamInference(`${worker.url}/v1/inference`, { prompt: 'busy', max_tokens: 2048, ignore_eos: true }, auth(), {
        signal: c.signal,
        onEvent: (e) => {
          if (e.event !== 'done' && e.event.type === 'token') markStarted();
        },
      }).catch(() => undefined);
    });
    await Promise.all(started); // both are generating at the same time
    const third = await fetch(`${worker.url}/v1/inference`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'third', max_tokens: 4 }),
    });
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('ALL_SLOTS_BUSY');
    for (const c of controllers) c.abort();
    await Promise.all(streams);
    await waitForFreeSlots(2, 30_000);
  });

  it('DELETE /v1/inference/{job_id} cancels with stop_reason cancelled and frees the slot', async () => {
    let jobId: string | undefined;
    let resolveJob!: () => void;
    const gotJob = new Promise<void>((r) => (resolveJob = r));
    const stream = streamInference(`${worker.url}/v1/inference`, { prompt: 'cancel me', max_tokens: 2048, ignore_eos: true }, auth(), {
      onEvent: (e) => {
        if (e.event !== 'done' && e.event.type === 'token' && jobId) resolveJob();
        if (e.event !== 'done' && e.event.type === 'started') jobId = e.event.job_id;
      },
    });
    await gotJob;
    const del = await fetch(`${worker.url}/v1/inference/${jobId}`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(204);
    const result = await stream;
    expect(endOf(result)!.stop_reason).toBe('cancelled');
    expect(endOf(result)!.tokens_out).toBeLessThan(2048);
    await waitForFreeSlots(2, 30_000);
    const unknown = await fetch(`${worker.url}/v1/inference/${jobId}`, { method: 'DELETE', headers: auth() });
    expect(unknown.status).toBe(404);
  });

  it('a client disconnect cancels generation and frees the slot', async () => {
    const controller = new AbortController();
    let resolveToken!: () => void;
    const gotToken = new Promise<void>((r) => (resolveToken = r));
    const stream = streamInference(`${worker.url}/v1/inference`, { prompt: 'walk away', max_tokens: 2048, ignore_eos: true }, auth(), {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.event !== 'done' && e.event.type === 'token') resolveToken();
      },
    }).catch((error: unknown) => error);
    await gotToken;
    expect((await health()).slots.free).toBe(1);
    controller.abort();
    await stream;
    await waitForFreeSlots(2, 30_000);
  });

  it('a 200 ms deadline ends the stream with stop_reason deadline and frees the slot', async () => {
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'slow', max_tokens: 2048, ignore_eos: true }, {
      ...auth(),
      'x-deadline-remaining-ms': '200',
    });
    expect(result.status).toBe(200);
    // The deadline, not max_tokens, ended it: fewer tokens than asked for and the reason says so.
    expect(endOf(result)!.stop_reason).toBe('deadline');
    expect(endOf(result)!.tokens_out).toBeLessThan(2048);
    await waitForFreeSlots(2, 30_000);
  });

  it('an absolute X-Deadline in the past gets 504 DEADLINE_EXCEEDED without generating', async () => {
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'late', max_tokens: 8 }, {
      ...auth(),
      'x-deadline': String(Date.now() - 1000),
    });
    expect(result.status).toBe(504);
    expect(result.json).toEqual({ error: { code: 'DEADLINE_EXCEEDED', message: expect.any(String) } });
  });

  it('stop sequences end generation with stop_reason stop_sequence', async () => {
    // Find a piece of text this seed actually generates, then ask the worker to stop on it.
    const probe = await streamInference(`${worker.url}/v1/inference`, { prompt: 'stop test', max_tokens: 40, temperature: 0, ignore_eos: true }, auth());
    const text = tokensOf(probe).map((t) => t.t).join('');
    const stop = [...text].slice(10, 12).join('');
    expect(stop.length).toBeGreaterThan(0);
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'stop test', max_tokens: 40, temperature: 0, ignore_eos: true, stop: [stop] }, auth());
    expect(endOf(result)!.stop_reason).toBe('stop_sequence');
    expect(endOf(result)!.tokens_out).toBeLessThan(40);
  });
});
