import type { StateCreator } from 'zustand';
import type { InferenceEvent, StopReason } from '../../src-shared/worker/inferenceWire.js';
import type { ChatRunRequest } from '../../src-shared/control/ControlApi.js';
import { getApi } from '../bridge/apiRegistry.js';
import {
  buildChatMessages,
  conversationKey,
  historyBudgetChars,
  localConversationStorage,
  parseStopList,
  type ChatTurn,
  type ConversationStorage,
  type StoredConversation,
} from '../lib/chatConversation.js';
import { errorMessage } from './errors.js';
import type { RbeeState } from './store.js';

/** Two independent runs: the playground view and the quick-inference popup. */
export type RunId = 'playground' | 'quick';

export interface InferenceParams {
  model: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  /** '' = random. */
  seed: string;
  /** Keep generating past the end-of-sequence token (benchmarks, long test runs). */
  ignoreEos: boolean;
  /** Sent first as the `system` message; '' = none. */
  system: string;
  /** Comma-separated stop sequences. */
  stop: string;
}

export interface InferenceRun {
  params: InferenceParams;
  status: 'idle' | 'running' | 'cancelling' | 'done' | 'error';
  output: string;
  tokens: number;
  jobId: string | null;
  startedAt: number | null;
  firstTokenAt: number | null;
  endedAt: number | null;
  stopReason: StopReason | null;
  /** From the `end` event. */
  decodeMs: number | null;
  error: string | null;
  /** The user message of the exchange on screen (the answer is `output`). */
  userPrompt: string;
  /** `hive/worker` that served the answer. */
  worker: string | null;
  /** History turns left out of the request to fit the model's context. */
  dropped: number;
}

export interface PlaygroundSlice {
  runs: Record<RunId, InferenceRun>;
  /** Settled turns of each conversation (the exchange on screen is in `runs`). */
  chats: Record<RunId, ChatTurn[]>;
  setRunParams: (run: RunId, patch: Partial<InferenceParams>) => void;
  /** Sends the prompt as the next user turn, with the conversation so far as `messages`. */
  startRun: (run: RunId) => Promise<void>;
  /** Asks again for the answer on screen: same user message, same history. */
  regenerateRun: (run: RunId) => Promise<void>;
  cancelRun: (run: RunId) => void;
  /** Ends the conversation: history, answer and prompt cleared (settings kept), storage too. */
  clearRun: (run: RunId) => void;
}

export const defaultParams: InferenceParams = { model: '', prompt: '', maxTokens: 256, temperature: 0.7, seed: '', ignoreEos: false, system: '', stop: '' };

export const idleRun: InferenceRun = {
  params: defaultParams,
  status: 'idle',
  output: '',
  tokens: 0,
  jobId: null,
  startedAt: null,
  firstTokenAt: null,
  endedAt: null,
  stopReason: null,
  decodeMs: null,
  error: null,
  userPrompt: '',
  worker: null,
  dropped: 0,
};

export const initialRuns: Record<RunId, InferenceRun> = { playground: idleRun, quick: idleRun };

/** Pure: apply a batch of inference events (tokens are batched per frame) to a run. */
export function reduceInference(run: InferenceRun, events: readonly InferenceEvent[], now: number): InferenceRun {
  let next = run;
  let text = '';
  let tokens = 0;
  for (const event of events) {
    switch (event.type) {
      case 'started':
        next = { ...next, jobId: event.job_id, worker: event.worker ?? next.worker };
        break;
      case 'token':
        text += event.t;
        tokens += 1;
        break;
      case 'end':
        next = {
          ...next,
          status: 'done',
          stopReason: event.stop_reason,
          decodeMs: event.decode_ms,
          tokens: Math.max(event.tokens_out, next.tokens + tokens),
          endedAt: now,
        };
        break;
      case 'error':
        next = { ...next, status: 'error', error: `${event.message} (${event.code})`, endedAt: now };
        break;
    }
  }
  if (tokens > 0 || text) {
    next = {
      ...next,
      output: next.output + text,
      tokens: next.status === 'done' ? next.tokens : next.tokens + tokens,
      firstTokenAt: next.firstTokenAt ?? now,
    };
  }
  return next;
}

/** Live tokens/s: the worker's own figure once ended, else the client-side estimate. */
export function runRate(run: InferenceRun, now: number): number | null {
  if (run.decodeMs !== null && run.decodeMs > 0) return (run.tokens * 1000) / run.decodeMs;
  if (run.firstTokenAt === null || run.tokens < 2) return null;
  const end = run.endedAt ?? now;
  const ms = end - run.firstTokenAt;
  return ms > 0 ? ((run.tokens - 1) * 1000) / ms : null;
}

type Scheduler = (fn: () => void) => void;
const scheduleFrame: Scheduler = (fn) => {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState === 'visible') {
    requestAnimationFrame(() => fn());
  } else {
    setTimeout(fn, 16);
  }
};

let storage: ConversationStorage = localConversationStorage;
/** Tests swap the persistence (the default is localStorage). */
export function setConversationStorage(next: ConversationStorage): void {
  storage = next;
}

/** The exchange on screen becomes history once the next message is sent. Pure. */
export function settleExchange(history: readonly ChatTurn[], run: InferenceRun): ChatTurn[] {
  if (!run.userPrompt || (run.status !== 'done' && run.status !== 'error')) return [...history];
  if (run.status === 'error' && run.output === '') return [...history]; // nothing came back: the turn is dropped
  return [...history, { role: 'user', content: run.userPrompt }, { role: 'assistant', content: run.output, worker: run.worker, tokens: run.tokens, stop_reason: run.stopReason }];
}

export function toStored(history: ChatTurn[], run: InferenceRun): StoredConversation {
  const settled = run.status === 'done' || run.status === 'error';
  return {
    version: 1,
    history,
    current:
      run.userPrompt && settled
        ? { user: run.userPrompt, answer: run.output, worker: run.worker, tokens: run.tokens, stop_reason: run.stopReason }
        : null,
    system: run.params.system,
    stop: run.params.stop,
  };
}

export function fromStored(stored: StoredConversation | null): { run: InferenceRun; history: ChatTurn[] } {
  if (!stored) return { run: idleRun, history: [] };
  const params = { ...defaultParams, system: stored.system, stop: stored.stop };
  const c = stored.current;
  const run: InferenceRun = c
    ? { ...idleRun, params, status: 'done', userPrompt: c.user, output: c.answer, worker: c.worker, tokens: c.tokens, stopReason: (c.stop_reason as StopReason | null) ?? null }
    : { ...idleRun, params };
  return { run, history: stored.history };
}

export const createPlaygroundSlice: StateCreator<RbeeState, [], [], PlaygroundSlice> = (set, get) => {
  const controllers: Partial<Record<RunId, AbortController>> = {};
  const update = (id: RunId, fn: (run: InferenceRun) => InferenceRun): void =>
    set((s) => ({ runs: { ...s.runs, [id]: fn(s.runs[id]) } }));
  const persist = (id: RunId): void => {
    const state = get();
    storage.save(conversationKey(id), toStored(state.chats[id], state.runs[id]));
  };
  const restored = { playground: fromStored(storage.load(conversationKey('playground'))), quick: fromStored(storage.load(conversationKey('quick'))) };

  /** Streams one answer to `userPrompt` after `history`; the exchange stays on screen until the next send. */
  const run = async (id: RunId, userPrompt: string, history: ChatTurn[], clearPrompt: boolean): Promise<void> => {
    const { params } = get().runs[id];
    const controller = new AbortController();
    controllers[id] = controller;
    const contextLength = get().cluster.models.find((m) => m.name === params.model)?.context_length ?? null;
    const { messages, dropped } = buildChatMessages({ system: params.system, history, prompt: userPrompt, budgetChars: historyBudgetChars(contextLength, params.maxTokens) });
    set((s) => ({
      chats: { ...s.chats, [id]: history },
      runs: { ...s.runs, [id]: { ...idleRun, params: clearPrompt ? { ...s.runs[id].params, prompt: '' } : s.runs[id].params, status: 'running', startedAt: Date.now(), userPrompt, dropped } },
    }));
    persist(id);
    // Token events are buffered and applied once per frame (STYLE §4.3).
    let buffer: InferenceEvent[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      if (buffer.length === 0 || controllers[id] !== controller) return;
      const batch = buffer;
      buffer = [];
      update(id, (r) => reduceInference(r, batch, Date.now()));
    };
    const seed = params.seed.trim() === '' ? undefined : Number(params.seed);
    const stop = parseStopList(params.stop);
    const request: ChatRunRequest = {
      model: params.model,
      messages,
      max_tokens: params.maxTokens,
      temperature: params.temperature,
      ...(seed !== undefined && Number.isInteger(seed) ? { seed } : {}),
      ...(stop.length > 0 ? { stop } : {}),
      ...(params.ignoreEos ? { ignore_eos: true } : {}),
    };
    const onEvent = (event: InferenceEvent): void => {
      buffer.push(event);
      if (event.type !== 'token') flush();
      else if (!scheduled) {
        scheduled = true;
        scheduleFrame(flush);
      }
    };
    try {
      const api = getApi();
      // The HTTP bridge goes through /v1/chat/completions; the IPC bridge sends the same messages through infer.
      if (api.chat) await api.chat(request, onEvent, controller.signal);
      else await api.infer(request, onEvent, controller.signal);
      flush();
      if (controllers[id] !== controller) return;
      update(id, (r) =>
        r.status === 'running' || r.status === 'cancelling'
          ? // The stream closed without an `end`: only a cancel does that on purpose.
            controller.signal.aborted
            ? { ...r, status: 'done', stopReason: 'cancelled', endedAt: Date.now() }
            : { ...r, status: 'error', error: 'The stream ended without a result', endedAt: Date.now() }
          : r,
      );
    } catch (error) {
      flush();
      if (controllers[id] !== controller) return;
      update(id, (r) => ({ ...r, status: 'error', error: errorMessage(error), endedAt: Date.now() }));
    } finally {
      if (controllers[id] === controller) {
        delete controllers[id];
        persist(id);
      }
    }
  };

  return {
    runs: { playground: restored.playground.run, quick: restored.quick.run },
    chats: { playground: restored.playground.history, quick: restored.quick.history },
    setRunParams: (id, patch) => {
      update(id, (r) => ({ ...r, params: { ...r.params, ...patch } }));
      if (patch.system !== undefined || patch.stop !== undefined) persist(id);
    },
    startRun: async (id) => {
      const current = get().runs[id];
      if (current.status === 'running' || current.status === 'cancelling') return;
      if (!current.params.model || !current.params.prompt.trim()) return;
      await run(id, current.params.prompt, settleExchange(get().chats[id], current), true);
    },
    regenerateRun: async (id) => {
      const current = get().runs[id];
      if (current.status !== 'done' && current.status !== 'error') return;
      if (!current.params.model || !current.userPrompt) return;
      // A draft the user was typing stays in the prompt box.
      await run(id, current.userPrompt, get().chats[id], false);
    },
    cancelRun: (id) => {
      const controller = controllers[id];
      if (!controller) return;
      update(id, (r) => (r.status === 'running' ? { ...r, status: 'cancelling' } : r));
      controller.abort();
    },
    clearRun: (id) => {
      controllers[id]?.abort();
      delete controllers[id];
      set((s) => ({ chats: { ...s.chats, [id]: [] }, runs: { ...s.runs, [id]: { ...idleRun, params: { ...s.runs[id].params, prompt: '' } } } }));
      storage.remove(conversationKey(id));
      // Keep the chat's own settings (system prompt, stop sequences) across a clear.
      const { params } = get().runs[id];
      if (params.system || params.stop) persist(id);
    },
  };
};
