import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { WorkerLogsStreamEvent } from '../../src-shared/control/workerLogs.js';
import { errorMessage } from '../stores/errors.js';

export interface FollowWorkerLogsOptions {
  tail?: number;
  /** Poll period where the bridge has no stream (Electron IPC). Defaults to 1 000 ms. */
  pollMs?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/**
 * Follows a worker's output through whichever bridge is installed: the HTTP bridge streams it
 * (`watchWorkerLogs`, SSE); the IPC bridge has no such stream, so this polls `getWorkerLogs` and
 * feeds each answer as a `reset` + tail (the consumer drops lines it already has by `seq`).
 * Returns the stop function.
 */
export function followWorkerLogs(api: ControlApi, hiveId: string, workerId: string, onEvent: (event: WorkerLogsStreamEvent) => void, options: FollowWorkerLogsOptions = {}): () => void {
  const tail = options.tail ?? 500;
  if (api.watchWorkerLogs) return api.watchWorkerLogs(hiveId, workerId, tail, onEvent);
  const setTimer = options.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const pollMs = options.pollMs ?? 1_000;
  let stopped = false;
  let timer: unknown = null;
  let healthy = false;
  const poll = async (): Promise<void> => {
    timer = null;
    try {
      const page = await api.getWorkerLogs(hiveId, workerId, tail);
      if (stopped) return;
      if (!healthy) onEvent({ type: 'state', state: 'open' });
      healthy = true;
      for (const line of page.lines) onEvent({ type: 'line', line });
    } catch (error) {
      if (stopped) return;
      const status = (error as { status?: unknown }).status;
      if (status === 404 || status === 401) {
        stopped = true;
        onEvent({ type: 'state', state: 'closed', message: errorMessage(error) });
        return;
      }
      healthy = false;
      onEvent({ type: 'state', state: 'reconnecting', message: errorMessage(error) });
    }
    if (!stopped) timer = setTimer(() => void poll(), pollMs);
  };
  onEvent({ type: 'reset' });
  void poll();
  return () => {
    stopped = true;
    if (timer !== null) clearTimer(timer);
  };
}
