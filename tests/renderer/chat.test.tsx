import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatRunRequest, ControlApi } from '../../src-shared/control/ControlApi.js';
import type { InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import { installApi } from '../../src-renderer/bridge/apiRegistry.js';
import { createHttpControlApi } from '../../src-renderer/bridge/httpControlApi.js';
import { buildChatMessages, historyBudgetChars, parseStopList, type ConversationStorage, type StoredConversation } from '../../src-renderer/lib/chatConversation.js';
import { fromStored, idleRun, setConversationStorage, settleExchange, toStored } from '../../src-renderer/stores/playgroundSlice.js';
import { useRbee } from '../../src-renderer/stores/store.js';

function memoryStorage(): ConversationStorage & { data: Map<string, StoredConversation> } {
  const data = new Map<string, StoredConversation>();
  return { data, load: (k) => data.get(k) ?? null, save: (k, v) => void data.set(k, structuredClone(v)), remove: (k) => void data.delete(k) };
}

afterEach(() => {
  useRbee.setState(useRbee.getInitialState(), true);
});

describe('chat messages (pure)', () => {
  it('system first, then the history, then the new user message', () => {
    const { messages, dropped } = buildChatMessages({
      system: 'Be brief.',
      history: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ],
      prompt: 'c',
      budgetChars: 1000,
    });
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ]);
    expect(dropped).toBe(0);
  });

  it('drops the oldest whole exchanges to fit the budget; the new message always goes', () => {
    const history = [
      { role: 'user' as const, content: 'x'.repeat(50) },
      { role: 'assistant' as const, content: 'y'.repeat(50) },
      { role: 'user' as const, content: 'q' },
      { role: 'assistant' as const, content: 'r' },
    ];
    const { messages, dropped } = buildChatMessages({ system: '', history, prompt: 'z'.repeat(20), budgetChars: 30 });
    expect(messages.map((m) => m.content)).toEqual(['q', 'r', 'z'.repeat(20)]);
    expect(dropped).toBe(2);
    expect(buildChatMessages({ system: '', history, prompt: 'long', budgetChars: 0 }).messages).toEqual([{ role: 'user', content: 'long' }]);
  });

  it('budget: the model context minus room for the answer and the template; stop list parsing', () => {
    expect(historyBudgetChars(512, 8)).toBe(512 - 8 - 128);
    expect(historyBudgetChars(512, 2048)).toBe(512 - 256 - 128);
    expect(historyBudgetChars(null, 256)).toBe(4096 - 256 - 128);
    expect(parseStopList(' ###, END ,, ')).toEqual(['###', 'END']);
  });

  it('the exchange on screen settles into history (an empty failed one is dropped) and round-trips through storage', () => {
    const done = { ...idleRun, status: 'done' as const, userPrompt: 'hi', output: 'yo', worker: 'local/w1', tokens: 2, stopReason: 'eos' as const };
    expect(settleExchange([], done)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'yo', worker: 'local/w1', tokens: 2, stop_reason: 'eos' },
    ]);
    expect(settleExchange([], { ...done, status: 'error', output: '' })).toEqual([]);
    const restored = fromStored(toStored([{ role: 'user', content: 'a' }], { ...done, params: { ...done.params, system: 'S' } }));
    expect(restored.history).toEqual([{ role: 'user', content: 'a' }]);
    expect(restored.run).toMatchObject({ status: 'done', userPrompt: 'hi', output: 'yo', worker: 'local/w1', params: { system: 'S' } });
  });
});

describe('chat in the store', () => {
  it('over IPC (no chat route) each turn goes through infer with the history as messages, and is persisted', async () => {
    const storage = memoryStorage();
    setConversationStorage(storage);
    const sent: ChatRunRequest[] = [];
    const infer = vi.fn(async (request: ChatRunRequest, onEvent: (e: InferenceEvent) => void) => {
      sent.push(request);
      onEvent({ type: 'started', job_id: `j${sent.length}`, model: request.model, worker: 'local/w1' });
      onEvent({ type: 'token', t: `answer ${sent.length}`, i: 0 });
      onEvent({ type: 'end', tokens_out: 1, decode_ms: 1, stop_reason: 'eos' });
    });
    installApi({ infer } as unknown as ControlApi, 'ipc');
    const s = useRbee.getState();
    s.setRunParams('quick', { model: 'm', system: 'sys', stop: 'END' });
    for (const prompt of ['one', 'two']) {
      useRbee.getState().setRunParams('quick', { prompt });
      await useRbee.getState().startRun('quick');
    }
    expect(sent[1]!.messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'answer 1' },
      { role: 'user', content: 'two' },
    ]);
    expect(sent[1]!.stop).toEqual(['END']);
    expect(useRbee.getState().runs.quick).toMatchObject({ status: 'done', output: 'answer 2', worker: 'local/w1', userPrompt: 'two' });
    expect(storage.data.get('rbee.chat.quick')).toMatchObject({ history: [{ content: 'one' }, { content: 'answer 1' }], current: { user: 'two', answer: 'answer 2' }, system: 'sys' });

    await useRbee.getState().regenerateRun('quick');
    expect(sent[2]!.messages).toEqual(sent[1]!.messages);

    useRbee.getState().clearRun('quick');
    expect(useRbee.getState().chats.quick).toEqual([]);
    expect(storage.data.get('rbee.chat.quick')).toMatchObject({ history: [], current: null, system: 'sys' });
  });
});

describe('HTTP chat bridge', () => {
  it('posts to /v1/chat/completions (stream, usage) and maps chunks to started(worker)/token/end', async () => {
    const enc = new TextEncoder();
    const frames = [
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: { content: 'he' }, finish_reason: null }] },
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: { content: 'llo' }, finish_reason: null }] },
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: {}, finish_reason: 'length' }] },
      { id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }, timings: { predicted_n: 2, predicted_ms: 4 } },
    ];
    const body = frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join('') + 'data: [DONE]\n\n';
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => new Response(enc.encode(body), { status: 200, headers: { 'x-rbee-worker': 'local/w1' } }));
    const api = createHttpControlApi({ baseUrl: 'http://q', getToken: () => 't', fetch });
    const events: InferenceEvent[] = [];
    await api.chat!({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, stop: ['###'], ignore_eos: true }, (e) => events.push(e));
    const [url, init] = fetch.mock.calls[0]!;
    expect(String(url)).toBe('http://q/v1/chat/completions');
    expect(JSON.parse(String(init?.body))).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 2,
      stop: ['###'],
      ignore_eos: true,
    });
    expect(events).toEqual([
      { type: 'started', job_id: 'chatcmpl-1', model: 'm', worker: 'local/w1' },
      { type: 'token', t: 'he', i: 0 },
      { type: 'token', t: 'llo', i: 1 },
      { type: 'end', tokens_out: 2, decode_ms: 4, stop_reason: 'max_tokens' },
    ]);
  });

  it('an error frame of a cut stream becomes an error event, with no end', async () => {
    const body = `data: ${JSON.stringify({ id: 'c', choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }] })}\n\ndata: ${JSON.stringify({ error: { message: 'worker lost', code: 'upstream_error' } })}\n\ndata: [DONE]\n\n`;
    const api = createHttpControlApi({ getToken: () => 't', fetch: async () => new Response(body, { status: 200 }) });
    const events: InferenceEvent[] = [];
    await api.chat!({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, (e) => events.push(e));
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'error']);
    expect(events[2]).toEqual({ type: 'error', code: 'UPSTREAM_ERROR', message: 'worker lost' });
  });
});
