import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { ConnectionState } from '../../src-shared/control/ControlApi.js';
import type { InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import { auditQueryString, createHttpControlApi, unwrapList } from '../../src-renderer/bridge/httpControlApi.js';
import { hasIpcBridge, selectBridge } from '../../src-renderer/bridge/selectBridge.js';
import { ev, hive, worker } from './fixtures.js';
import { waitFor } from '../helpers/waitFor.js';

/** A response whose body the test writes to and closes (or errors) by hand. */
function streamResponse(status = 200) {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  const enc = new TextEncoder();
  return {
    response: new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } }),
    write: (s: string) => ctrl.enqueue(enc.encode(s)),
    close: () => ctrl.close(),
    fail: () => ctrl.error(new TypeError('network reset')),
  };
}

const frame = (e: ClusterEvent) => `event: cluster\ndata: ${JSON.stringify(e)}\n\n`;
const snap = (seq = 0) => ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [worker()], models: [] } }, seq);

/** Manual timers: the test decides when a reconnect delay has passed. */
function manualTimers() {
  const timers = new Map<number, { fn: () => void; ms: number }>();
  let id = 0;
  return {
    setTimeout: (fn: () => void, ms: number) => (timers.set(++id, { fn, ms }), id),
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    pending: () => [...timers.values()],
    /** Run the timers whose delay is at most `maxMs` (reconnects), not the idle watchdog. */
    fire(maxMs = 30_000) {
      for (const [k, t] of [...timers]) {
        if (t.ms > maxMs) continue;
        timers.delete(k);
        t.fn();
      }
    },
  };
}


describe('HTTP ControlApi bridge', () => {
  it('sends the bearer token on every call and maps the error envelope to ApiError', async () => {
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) =>
      new Response(JSON.stringify({ error: { code: 'WORKER_NOT_FOUND', message: 'no worker w9' } }), { status: 404 }),
    );
    const api = createHttpControlApi({ baseUrl: 'http://q', getToken: () => 'sekrit', fetch });
    const error = await api.stopWorker('local', 'w9').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, code: 'WORKER_NOT_FOUND', message: 'no worker w9' });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('http://q/v1/control/hives/local/workers/w9/stop');
    expect(init?.method).toBe('POST');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer sekrit');
  });

  it('reports a 401 to onUnauthorized', async () => {
    const onUnauthorized = vi.fn();
    const fetch = async () => new Response(JSON.stringify({ error: { code: 'INVALID_API_KEY', message: 'Invalid API key' } }), { status: 401 });
    const api = createHttpControlApi({ getToken: () => 'bad', fetch, onUnauthorized });
    await expect(api.getSnapshot()).rejects.toMatchObject({ status: 401, code: 'INVALID_API_KEY' });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it('turns a network failure into a clear error', async () => {
    const api = createHttpControlApi({ getToken: () => 't', fetch: async () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(api.listHives()).rejects.toThrow(/Cannot reach the queen: Failed to fetch/);
  });

  it('unwraps the queen\'s list envelopes', async () => {
    const fetch = async (url: RequestInfo | URL) =>
      new Response(JSON.stringify(String(url).endsWith('/models') ? { models: [{ name: 'm' }] } : { hives: [hive()] }), { status: 200 });
    const api = createHttpControlApi({ getToken: () => 't', fetch });
    expect((await api.listModels()).map((m) => m.name)).toEqual(['m']);
    expect((await api.listHives()).map((h) => h.id)).toEqual(['local']);
    expect(unwrapList([1, 2], 'x')).toEqual([1, 2]);
  });

  it('builds the audit query string', () => {
    expect(auditQueryString({})).toBe('');
    expect(auditQueryString({ event_types: ['auth_failure', 'worker_crashed'], text: 'a b', cursor: 'c1', limit: 50 })).toBe(
      '?event_types=auth_failure%2Cworker_crashed&text=a+b&cursor=c1&limit=50',
    );
  });

  it('streams cluster events, reconnects with backoff after a drop and resyncs from the new snapshot', async () => {
    const timers = manualTimers();
    const streams: Array<ReturnType<typeof streamResponse>> = [];
    let refuse = false;
    const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer t');
      if (refuse) throw new TypeError('connection refused');
      const s = streamResponse();
      streams.push(s);
      return s.response;
    });
    const events: ClusterEvent[] = [];
    const states: ConnectionState[] = [];
    const api = createHttpControlApi({ getToken: () => 't', fetch, random: () => 0.5, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
    const unsubscribe = api.subscribe((e) => events.push(e), (s) => states.push(s));
    await waitFor(() => streams.length === 1);
    // Split a frame across chunks: the parser must reassemble it.
    const text = frame(snap(0));
    streams[0]!.write(text.slice(0, 10));
    streams[0]!.write(text.slice(10) + ': keep-alive\n\n');
    streams[0]!.write(frame(ev({ type: 'worker_updated', worker: worker({ state: 'busy' }) }, 1)));
    await waitFor(() => events.length === 2);
    expect(states).toEqual(['connecting', 'open']);

    // The queen goes away: the stream errors, then connecting fails once.
    refuse = true;
    streams[0]!.fail();
    await waitFor(() => states.at(-1) === 'reconnecting');
    expect(timers.pending().map((t) => t.ms)).toContain(500);
    timers.fire();
    await waitFor(() => fetch.mock.calls.length === 2);
    await waitFor(() => timers.pending().some((t) => t.ms === 1000)); // backoff doubled
    refuse = false;
    timers.fire();
    await waitFor(() => streams.length === 2);
    streams[1]!.write(frame(snap(0)));
    await waitFor(() => states.at(-1) === 'open');
    expect(events.filter((e) => e.type === 'snapshot')).toHaveLength(2);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);

    // After a healthy snapshot the backoff starts from the base again.
    streams[1]!.close();
    await waitFor(() => timers.pending().some((t) => t.ms === 500));
    unsubscribe();
    expect(states.at(-1)).toBe('closed');
    expect(timers.pending().filter((t) => t.ms <= 30_000)).toHaveLength(0);
  });

  it('stops and reports closed when the stream is refused with 401', async () => {
    const onUnauthorized = vi.fn();
    const states: ConnectionState[] = [];
    const fetch = async () => new Response(JSON.stringify({ error: { code: 'INVALID_API_KEY', message: 'Invalid API key' } }), { status: 401 });
    const api = createHttpControlApi({ getToken: () => 'old', fetch, onUnauthorized });
    api.subscribe(() => undefined, (s) => states.push(s));
    await waitFor(() => onUnauthorized.mock.calls.length === 1);
    expect(states).toEqual(['connecting', 'closed']);
  });

  it('restarts a silent stream after the idle timeout', async () => {
    const timers = manualTimers();
    const streams: Array<ReturnType<typeof streamResponse>> = [];
    const fetch = async (_u: RequestInfo | URL, init?: RequestInit) => {
      const s = streamResponse();
      init?.signal?.addEventListener('abort', () => s.fail());
      streams.push(s);
      return s.response;
    };
    const api = createHttpControlApi({ getToken: () => 't', fetch, idleTimeoutMs: 45_000, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, random: () => 0.5 });
    const states: ConnectionState[] = [];
    const stop = api.subscribe(() => undefined, (s) => states.push(s));
    await waitFor(() => streams.length === 1);
    streams[0]!.write(frame(snap()));
    await waitFor(() => states.includes('open'));
    timers.fire(45_000); // the idle watchdog
    await waitFor(() => states.at(-1) === 'reconnecting');
    stop();
  });

  it('streams an inference and cancels it through DELETE /v1/inference/{job_id}', async () => {
    const s = streamResponse();
    const calls: Array<{ url: string; method: string; body?: string }> = [];
    const fetch = async (url: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ url: String(url), method: init?.method ?? 'GET', ...(typeof init?.body === 'string' ? { body: init.body } : {}) });
      if (init?.method === 'DELETE') {
        queueMicrotask(() => {
          s.write('event: end\ndata: {"tokens_out":2,"decode_ms":4,"stop_reason":"cancelled"}\n\ndata: [DONE]\n\n');
          s.close();
        });
        return new Response(null, { status: 204 });
      }
      return s.response;
    };
    const api = createHttpControlApi({ getToken: () => 't', fetch });
    const events: InferenceEvent[] = [];
    const abort = new AbortController();
    const done = api.infer({ model: 'demo.gguf', prompt: 'hi', max_tokens: 100 }, (e) => events.push(e), abort.signal);
    s.write('event: started\r\ndata: {"job_id":"job-1","model":"demo.gguf"}\r\n\r\nevent: token\ndata: {"t":"a","i":0}\n\n');
    s.write('event: token\ndata: {"t":"b","i":1}\n\n');
    await waitFor(() => events.length === 3);
    abort.abort();
    await done;
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'token', 'end']);
    expect(events.at(-1)).toMatchObject({ stop_reason: 'cancelled' });
    expect(calls[0]).toMatchObject({ url: '/v1/inference', method: 'POST' });
    expect(JSON.parse(calls[0]!.body!)).toEqual({ model: 'demo.gguf', prompt: 'hi', max_tokens: 100 });
    expect(calls[1]).toMatchObject({ url: '/v1/inference/job-1', method: 'DELETE' });
  });

  it('rejects an inference refused by the queen with its error', async () => {
    const fetch = async () => new Response(JSON.stringify({ error: { code: 'ALL_SLOTS_BUSY', message: 'busy' } }), { status: 503 });
    const api = createHttpControlApi({ getToken: () => 't', fetch });
    await expect(api.infer({ model: 'm', prompt: 'p' }, () => undefined)).rejects.toMatchObject({ status: 503, code: 'ALL_SLOTS_BUSY' });
  });
});

describe('bridge selection', () => {
  it('uses window.rbee when the preload exposed a ControlApi, else HTTP', () => {
    const ipc = { getSnapshot: () => undefined, subscribe: () => undefined, infer: () => undefined };
    expect(hasIpcBridge({ rbee: ipc })).toBe(true);
    expect(hasIpcBridge({ rbee: { getSnapshot: 1 } })).toBe(false);
    expect(hasIpcBridge({})).toBe(false);
    expect(selectBridge({ rbee: ipc }, { getToken: () => null }).kind).toBe('ipc');
    expect(selectBridge({}, { getToken: () => null }).kind).toBe('http');
  });
});
