import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { WorkerLogLine, WorkerLogsStreamEvent } from '../../src-shared/control/workerLogs.js';
import { createHttpControlApi } from '../../src-renderer/bridge/httpControlApi.js';
import { followWorkerLogs } from '../../src-renderer/lib/followWorkerLogs.js';
import { appendLogLines, filterLogLines, formatLogLines } from '../../src-renderer/lib/logLines.js';
import { waitFor } from '../helpers/waitFor.js';

const line = (seq: number, text = `line ${seq}`, stream: 'stdout' | 'stderr' = 'stdout'): WorkerLogLine => ({ seq, at: Date.UTC(2026, 0, 1), stream, text });

function manualTimers() {
  const timers = new Map<number, () => void>();
  let id = 0;
  return {
    setTimeout: (fn: () => void) => (timers.set(++id, fn), id),
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    size: () => timers.size,
    fire() {
      for (const [k, fn] of [...timers]) {
        timers.delete(k);
        fn();
      }
    },
  };
}


describe('log lines (pure)', () => {
  it('appends in seq order, drops what it already has (an overlapping tail) and keeps the newest `max`', () => {
    const a = appendLogLines([], [line(1), line(2), line(3)]);
    const b = appendLogLines(a, [line(2), line(3), line(4)]);
    expect(b.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(appendLogLines(b, [line(5), line(6)], 3).map((l) => l.seq)).toEqual([4, 5, 6]);
  });

  it('searches case-insensitively and formats lines as the hive file does', () => {
    const lines = [line(1, 'Server listening'), line(2, 'job finished', 'stderr')];
    expect(filterLogLines(lines, 'LISTEN').map((l) => l.seq)).toEqual([1]);
    expect(filterLogLines(lines, '  ')).toHaveLength(2);
    expect(formatLogLines(lines)).toBe('2026-01-01T00:00:00.000Z stdout Server listening\n2026-01-01T00:00:00.000Z stderr job finished');
  });
});

describe('following a worker log', () => {
  it('over a bridge without a stream (Electron IPC) it polls getWorkerLogs and reports each new line once', async () => {
    const timers = manualTimers();
    let lines = [line(1)];
    const getWorkerLogs = vi.fn(async (_h: string, id: string, _t: number) => ({ worker_id: id, lines }));
    const api = { getWorkerLogs } as unknown as ControlApi;
    const events: WorkerLogsStreamEvent[] = [];
    let shown: WorkerLogLine[] = [];
    const stop = followWorkerLogs(api, 'local', 'w1', (e) => {
      events.push(e);
      if (e.type === 'line') shown = appendLogLines(shown, [e.line]);
    }, timers);
    await waitFor(() => timers.size() === 1);
    expect(getWorkerLogs).toHaveBeenCalledWith('local', 'w1', 500);
    expect(events.slice(0, 2)).toEqual([{ type: 'reset' }, { type: 'state', state: 'open' }]);
    lines = [line(1), line(2, 'written later')];
    timers.fire();
    await waitFor(() => shown.length === 2);
    expect(shown.map((l) => l.text)).toEqual(['line 1', 'written later']);
    stop();
    expect(timers.size()).toBe(0);
  });

  it('a worker that is gone (404) ends polling with its message', async () => {
    const timers = manualTimers();
    const api = { getWorkerLogs: async () => Promise.reject(new ApiError(404, 'WORKER_NOT_FOUND', "No worker 'w9'")) } as unknown as ControlApi;
    const events: WorkerLogsStreamEvent[] = [];
    followWorkerLogs(api, 'local', 'w9', (e) => events.push(e), timers);
    await waitFor(() => events.some((e) => e.type === 'state' && e.state === 'closed'));
    expect(timers.size()).toBe(0);
  });

  it('the HTTP bridge reads the SSE follow route (bearer, tail, follow=1), parses lines with the shared schema and reconnects with a reset', async () => {
    const timers = manualTimers();
    const enc = new TextEncoder();
    const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => {
      const body = new ReadableStream<Uint8Array>({ start: (c) => void controllers.push(c) });
      return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
    });
    const api = createHttpControlApi({ baseUrl: 'http://q', getToken: () => 'sekrit', fetch, random: () => 0.5, ...timers });
    const events: WorkerLogsStreamEvent[] = [];
    const stop = api.watchWorkerLogs!('local', 'w 1', 100, (e) => events.push(e));
    await waitFor(() => controllers.length === 1);
    const [url, init] = fetch.mock.calls[0]!;
    expect(String(url)).toBe('http://q/v1/control/hives/local/workers/w%201/logs?tail=100&follow=1');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer sekrit');
    controllers[0]!.enqueue(enc.encode(`event: log\nid: 1\ndata: ${JSON.stringify(line(1))}\n\n: ping\n\nevent: log\ndata: {"seq":"bad"}\n\n`));
    await waitFor(() => events.some((e) => e.type === 'line'));
    controllers[0]!.close();
    await waitFor(() => events.some((e) => e.type === 'state' && e.state === 'reconnecting'));
    timers.fire();
    await waitFor(() => controllers.length === 2);
    controllers[1]!.enqueue(enc.encode(`event: log\ndata: ${JSON.stringify(line(2))}\n\n`));
    await waitFor(() => events.filter((e) => e.type === 'line').length === 2);
    expect(events.map((e) => (e.type === 'line' ? `line ${e.line.seq}` : e.type === 'state' ? e.state : e.type))).toEqual([
      'reset',
      'open',
      'line 1',
      'reconnecting',
      'reset',
      'open',
      'line 2',
    ]);
    stop();
  });
});
