import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import { createHttpControlApi, type HttpControlApiOptions } from './httpControlApi.js';

declare global {
  interface Window {
    /** The Electron preload bridge (contextBridge): the same ControlApi, carried over IPC. */
    rbee?: ControlApi;
  }
}

export type BridgeKind = 'ipc' | 'http';

const REQUIRED: ReadonlyArray<keyof ControlApi> = ['getSnapshot', 'subscribe', 'infer'];

/** True when the preload exposed a usable ControlApi at `window.rbee`. */
export function hasIpcBridge(win: { rbee?: unknown }): win is { rbee: ControlApi } {
  const candidate = win.rbee as Record<string, unknown> | undefined;
  return typeof candidate === 'object' && candidate !== null && REQUIRED.every((k) => typeof candidate[k] === 'function');
}

/** `window.rbee` present → IPC bridge (no login); else the HTTP bridge to the page's own origin. */
export function selectBridge(win: { rbee?: unknown }, http: HttpControlApiOptions): { kind: BridgeKind; api: ControlApi } {
  if (hasIpcBridge(win)) return { kind: 'ipc', api: win.rbee };
  return { kind: 'http', api: createHttpControlApi(http) };
}
