import type { ControlApi } from '../../../src-shared/control/ControlApi.js';

/**
 * Optional streams this bridge does not carry: the dashboard falls back to polling their request
 * counterpart (`watchWorkerLogs` → `getWorkerLogs` once a second; `chat` → `infer` with the messages).
 */
export const IPC_UNBRIDGED_METHODS = ['watchWorkerLogs', 'chat'] as const satisfies ReadonlyArray<keyof ControlApi>;

/**
 * The request/response methods of `ControlApi`, one IPC channel each (`rbee:<method>`). The two
 * streaming methods (`subscribe`, `infer`) have their own channels below. This list is the single
 * source for the preload (which only ever invokes these channels) and for main (which registers a
 * zod-validated handler per entry). `satisfies` keeps it in step with the interface: a method added
 * to ControlApi that is missing here fails the typecheck in `registerControlIpc`.
 */
export const CONTROL_REQUEST_METHODS = [
  'getSnapshot',
  'spawnWorker',
  'listWorkerSpecs',
  'createWorkerSpec',
  'getWorkerSpec',
  'replaceWorkerSpec',
  'deleteWorkerSpec',
  'stopWorker',
  'startWorker',
  'restartWorker',
  'resetBreaker',
  'getWorkerLogs',
  'listModels',
  'downloadModel',
  'uploadModel',
  'deleteModel',
  'listHives',
  'addHive',
  'removeHive',
  'listPools',
  'testPool',
  'resetPoolBreaker',
  'queryAudit',
  'verifyAudit',
  'getSettings',
  'updateSettings',
  'getDesktopPreferences',
  'updateDesktopPreferences',
  'listKeys',
  'createKey',
  'revokeKey',
  'revealAdminToken',
] as const satisfies ReadonlyArray<keyof ControlApi>;

export type ControlRequestMethod = (typeof CONTROL_REQUEST_METHODS)[number];
export type ControlStreamMethod = Exclude<keyof ControlApi, ControlRequestMethod | (typeof IPC_UNBRIDGED_METHODS)[number]>;

export const IPC_PREFIX = 'rbee:';

export function requestChannel(method: ControlRequestMethod): string {
  return `${IPC_PREFIX}${method}`;
}

/** Channels of the two streams. Renderer → main are `invoke`s; main → renderer are `send`s. */
export const StreamChannels = {
  subscribe: 'rbee:subscribe',
  unsubscribe: 'rbee:unsubscribe',
  /** main → renderer: `{ id, event }` or `{ id, connection }`. */
  clusterEvent: 'rbee:cluster-event',
  infer: 'rbee:infer',
  inferCancel: 'rbee:infer-cancel',
  /** main → renderer: `{ id, event }`. */
  inferEvent: 'rbee:infer-event',
} as const;

/**
 * What every invoke resolves with. Errors travel as data because Electron flattens a rejected
 * `invoke` into a bare message ("Error invoking remote method …"), losing the ApiError's code and status.
 */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcError };

export interface IpcError {
  status: number;
  code: string;
  message: string;
}
