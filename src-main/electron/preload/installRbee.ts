import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import type { IpcResult } from '../ipc/controlChannels.js';
import type { RawBridge } from './createRawBridge.js';

/**
 * Runs in the page's main world (via `contextBridge.executeInMainWorld`, which serialises it), so it
 * must be self-contained: no imports at runtime, no closures over module scope. It turns the raw
 * bridge into `window.rbee: ControlApi`:
 * - request methods reject with an Error carrying the ApiError's `name`, `code` and `status`;
 * - `infer`'s AbortSignal is kept on this side and wired to the bridge's cancel function;
 * - `window.rbee` is frozen and non-writable, like a `exposeInMainWorld` property.
 * Also used (with a capture object as `target`) to build the same object for `exposeInMainWorld`
 * where `executeInMainWorld` is unavailable.
 */
export function installRbee(raw: RawBridge, target: object = globalThis): void {
  type Result = IpcResult<unknown>;
  const unwrap = (result: Result): unknown => {
    if (result && result.ok === true) return result.value;
    const error = result && result.ok === false ? result.error : { status: 500, code: 'INTERNAL', message: 'No reply from the main process' };
    throw Object.assign(new Error(error.message), { name: 'ApiError', code: error.code, status: error.status });
  };
  const api: Record<string, unknown> = {};
  for (const method of raw.methods) {
    api[method] = (...args: unknown[]) => raw.call(method, args).then(unwrap);
  }
  const subscribe: ControlApi['subscribe'] = (onEvent, onConnection) => {
    const unsubscribe = raw.subscribe(onEvent, onConnection);
    return () => unsubscribe();
  };
  const infer: ControlApi['infer'] = (request, onEvent, given) => {
    // Through the exposeInMainWorld fallback a signal arrives stripped of its methods: ignore it then.
    const signal = given && typeof given.addEventListener === 'function' ? given : undefined;
    if (signal && signal.aborted) return Promise.reject(Object.assign(new Error('The inference was aborted'), { name: 'AbortError' }));
    let onAbort: (() => void) | undefined;
    const watch = signal
      ? (cancel: () => void) => {
          onAbort = () => cancel();
          signal.addEventListener('abort', onAbort);
        }
      : undefined;
    return raw.infer(request, onEvent, watch).then(
      (result) => {
        if (onAbort && signal) signal.removeEventListener('abort', onAbort);
        unwrap(result);
      },
      (error: unknown) => {
        if (onAbort && signal) signal.removeEventListener('abort', onAbort);
        throw error;
      },
    );
  };
  api.subscribe = subscribe;
  api.infer = infer;
  Object.defineProperty(target, 'rbee', { value: Object.freeze(api), enumerable: true, configurable: false, writable: false });
}
