import type { StateCreator } from 'zustand';
import type { InferenceEvent, StopReason } from '../../src-shared/worker/inferenceWire.js';
import { getApi } from '../bridge/apiRegistry.js';
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
}

export interface PlaygroundSlice {
  runs: Record<RunId, InferenceRun>;
  setRunParams: (run: RunId, patch: Partial<InferenceParams>) => void;
  startRun: (run: RunId) => Promise<void>;
  cancelRun: (run: RunId) => void;
  clearRun: (run: RunId) => void;
}

export const defaultParams: InferenceParams = { model: '', prompt: '', maxTokens: 256, temperature: 0.7, seed: '', ignoreEos: false };

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
        next = { ...next, jobId: event.job_id };
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

export const createPlaygroundSlice: StateCreator<RbeeState, [], [], PlaygroundSlice> = (set, get) => {
  const controllers: Partial<Record<RunId, AbortController>> = {};
  const update = (id: RunId, fn: (run: InferenceRun) => InferenceRun): void =>
    set((s) => ({ runs: { ...s.runs, [id]: fn(s.runs[id]) } }));

  return {
    runs: initialRuns,
    setRunParams: (id, patch) => update(id, (run) => ({ ...run, params: { ...run.params, ...patch } })),
    startRun: async (id) => {
      const { params, status } = get().runs[id];
      if (status === 'running' || status === 'cancelling') return;
      if (!params.model || !params.prompt.trim()) return;
      const controller = new AbortController();
      controllers[id] = controller;
      update(id, (run) => ({ ...idleRun, params: run.params, status: 'running', startedAt: Date.now() }));
      // Token events are buffered and applied once per frame (STYLE §4.3).
      let buffer: InferenceEvent[] = [];
      let scheduled = false;
      const flush = (): void => {
        scheduled = false;
        if (buffer.length === 0 || controllers[id] !== controller) return;
        const batch = buffer;
        buffer = [];
        update(id, (run) => reduceInference(run, batch, Date.now()));
      };
      const seed = params.seed.trim() === '' ? undefined : Number(params.seed);
      try {
        await getApi().infer(
          {
            model: params.model,
            prompt: params.prompt,
            max_tokens: params.maxTokens,
            temperature: params.temperature,
            ...(seed !== undefined && Number.isInteger(seed) ? { seed } : {}),
            ...(params.ignoreEos ? { ignore_eos: true } : {}),
          },
          (event) => {
            buffer.push(event);
            if (event.type !== 'token') flush();
            else if (!scheduled) {
              scheduled = true;
              scheduleFrame(flush);
            }
          },
          controller.signal,
        );
        flush();
        if (controllers[id] !== controller) return;
        update(id, (run) =>
          run.status === 'running' || run.status === 'cancelling'
            ? // The stream closed without an `end`: only a cancel does that on purpose.
              controller.signal.aborted
              ? { ...run, status: 'done', stopReason: 'cancelled', endedAt: Date.now() }
              : { ...run, status: 'error', error: 'The stream ended without a result', endedAt: Date.now() }
            : run,
        );
      } catch (error) {
        flush();
        if (controllers[id] !== controller) return;
        update(id, (run) => ({ ...run, status: 'error', error: errorMessage(error), endedAt: Date.now() }));
      } finally {
        if (controllers[id] === controller) delete controllers[id];
      }
    },
    cancelRun: (id) => {
      const controller = controllers[id];
      if (!controller) return;
      update(id, (run) => (run.status === 'running' ? { ...run, status: 'cancelling' } : run));
      controller.abort();
    },
    clearRun: (id) => {
      controllers[id]?.abort();
      delete controllers[id];
      update(id, (run) => ({ ...idleRun, params: { ...run.params, prompt: '' } }));
    },
  };
};
