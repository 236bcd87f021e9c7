// The worker's HTTP face and model runtime in this process (real node-llama-cpp, real HTTP on a
// loopback port): the same behaviour the process tests prove, here where coverage can see it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { ModelRuntime, PromptTooLongError } from '../../src-main/worker/ModelRuntime.js';
import { WorkerServer } from '../../src-main/worker/WorkerServer.js';
import { endOf, streamInference, tokensOf } from '../helpers/sseClient.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

const TOKEN = 'in-process-worker-token-123456';
let runtime: ModelRuntime;
let server: WorkerServer;
let url: string;
let shutdownAsked = 0;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  server = new WorkerServer({
    workerId: 'w-in-process',
    modelName: 'tiny.gguf',
    token: TOKEN,
    logger: createLogger('worker', { level: 'silent' }),
    audit: NOOP_AUDIT_SINK,
    streamFlushMs: 5,
    onShutdownRequested: () => shutdownAsked++,
  });
  url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const loading = (await (await fetch(`${url}/v1/ready`, { headers: auth })).json()) as { state: string };
  expect(loading.state).toBe('loading');
  const progress: number[] = [];
  runtime = await ModelRuntime.load({ modelPath: await tinyModelPath(), device: 'cpu', threads: 1, contextSize: 512, slots: 2, onLoadProgress: (p) => progress.push(p) });
  expect(progress.at(-1)).toBe(1);
  server.attachRuntime(runtime);
});
afterAll(async () => {
  await server?.drain(100);
  await server?.app.close();
  await runtime?.dispose();
});

describe('worker in-process', () => {
  it('reports readiness and health', async () => {
    expect(((await (await fetch(`${url}/v1/ready`, { headers: auth })).json()) as { state: string }).state).toBe('ready');
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; slots: { total: number; free: number }; device: string };
    expect(health).toMatchObject({ status: 'ok', slots: { total: 2, free: 2 }, device: 'cpu' });
  });

  it('streams a prompt and chat messages, with exact max_tokens', async () => {
    const a = await streamInference(`${url}/v1/inference`, { prompt: 'hi', max_tokens: 17, ignore_eos: true }, auth);
    expect(endOf(a)).toMatchObject({ stop_reason: 'max_tokens', tokens_out: 17 });
    expect(tokensOf(a).length).toBeGreaterThan(0);
    const b = await streamInference(`${url}/v1/inference`, { messages: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'again' }], max_tokens: 5 }, auth);
    expect(endOf(b)?.tokens_in).toBeGreaterThan(3);
  });

  it('cancels by job id and by deadline, and refuses expired and oversized work', async () => {
    let jobId = '';
    let gotToken!: () => void;
    const seen = new Promise<void>((r) => (gotToken = r));
    const running = streamInference(`${url}/v1/inference`, { prompt: 'long', max_tokens: 2048, ignore_eos: true }, auth, {
      onEvent: (e) => {
        if (e.event !== 'done' && e.event.type === 'started') jobId = e.event.job_id;
        if (e.event !== 'done' && e.event.type === 'token') gotToken();
      },
    });
    await seen;
    expect((await fetch(`${url}/v1/inference/${jobId}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(endOf(await running)?.stop_reason).toBe('cancelled');

    const short = await streamInference(`${url}/v1/inference`, { prompt: 'x', max_tokens: 2048, ignore_eos: true }, { ...auth, 'x-deadline-remaining-ms': '100' });
    expect(endOf(short)?.stop_reason).toBe('deadline');
    const expired = await streamInference(`${url}/v1/inference`, { prompt: 'x' }, { ...auth, 'x-deadline': '1' });
    expect(expired.status).toBe(504);
    const tooLong = await streamInference(`${url}/v1/inference`, { prompt: 'word '.repeat(2000) }, auth);
    expect(tooLong.status).toBe(400);
    await expect(runtime.prepare({ prompt: 'word '.repeat(2000) })).rejects.toThrow(PromptTooLongError);
  });

  it('ends on a stop sequence without emitting it', async () => {
    const probe = await streamInference(`${url}/v1/inference`, { prompt: 'stop', max_tokens: 30, temperature: 0, ignore_eos: true }, auth);
    const text = tokensOf(probe).map((t) => t.t).join('');
    const stop = [...text].slice(6, 8).join('');
    const r = await streamInference(`${url}/v1/inference`, { prompt: 'stop', max_tokens: 30, temperature: 0, ignore_eos: true, stop: [stop] }, auth);
    expect(endOf(r)?.stop_reason).toBe('stop_sequence');
    expect(tokensOf(r).map((t) => t.t).join('')).not.toContain(stop);
  });

  it('two slots busy → 503 ALL_SLOTS_BUSY; drain cancels what outlasts it', async () => {
    const started: Array<Promise<void>> = [];
    const streams = [0, 1].map(() => {
      let mark!: () => void;
      started.push(new Promise<void>((r) => (mark = r)));
      return streamInference(`${url}/v1/inference`, { prompt: 'busy', max_tokens: 2048, ignore_eos: true }, auth, {
        onEvent: (e) => e.event !== 'done' && e.event.type === 'token' && mark(),
      });
    });
    await Promise.all(started);
    const third = await streamInference(`${url}/v1/inference`, { prompt: 'third' }, auth);
    expect(third.status).toBe(503);
    expect(server.inFlight).toBe(2);
    await server.drain(50);
    for (const r of await Promise.all(streams)) expect(endOf(r)?.stop_reason).toBe('cancelled');
    const refused = await streamInference(`${url}/v1/inference`, { prompt: 'after drain' }, auth);
    expect((refused.json as { error: { code: string } }).error.code).toBe('SHUTTING_DOWN');
    expect((await fetch(`${url}/v1/shutdown`, { method: 'POST', headers: auth })).status).toBe(202);
    await expect.poll(() => shutdownAsked).toBe(1);
  });
});
