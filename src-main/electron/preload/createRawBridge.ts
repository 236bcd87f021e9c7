import type { ClusterEvent } from '../../../src-shared/cluster/ClusterEvent.js';
import type { ConnectionState } from '../../../src-shared/control/ControlApi.js';
import type { InferenceEvent } from '../../../src-shared/worker/inferenceWire.js';
import { CONTROL_REQUEST_METHODS, requestChannel, StreamChannels, type ControlRequestMethod, type IpcResult } from '../ipc/controlChannels.js';

/** The part of Electron's `ipcRenderer` the preload uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, payload: unknown) => void): unknown;
}

/**
 * What the preload hands to the page's world. Only functions and plain data, because that is what
 * crosses Electron's context bridge intact: functions are proxied, objects are copied without
 * their prototypes (an `AbortSignal` would arrive as `{}`, an `ApiError` as a bare Error). The
 * main-world half (`installRbee`) turns this into the `ControlApi` the dashboard calls.
 */
export interface RawBridge {
  readonly methods: readonly ControlRequestMethod[];
  call(method: string, args: unknown[]): Promise<IpcResult<unknown>>;
  subscribe(onEvent: (event: ClusterEvent) => void, onConnection?: (state: ConnectionState) => void): () => void;
  /**
   * `watchCancel` is called once with a `cancel` function; the main-world half wires it to the
   * caller's AbortSignal (which itself cannot cross the bridge).
   */
  infer(request: unknown, onEvent: (event: InferenceEvent) => void, watchCancel?: (cancel: () => void) => void): Promise<IpcResult<null>>;
}

const METHOD_SET: ReadonlySet<string> = new Set(CONTROL_REQUEST_METHODS);

function notAllowed(method: string): IpcResult<never> {
  return { ok: false, error: { status: 400, code: 'INVALID_REQUEST', message: `Unknown control method: ${String(method).slice(0, 64)}` } };
}

function asResult<T>(value: unknown): IpcResult<T> {
  if (typeof value === 'object' && value !== null && 'ok' in value) return value as IpcResult<T>;
  return { ok: false, error: { status: 500, code: 'INTERNAL', message: 'Malformed reply from the main process' } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The preload's side of the bridge. It only ever invokes the fixed `rbee:*` channels (never a
 * channel name chosen by the page), keeps one listener per stream channel and routes by stream id.
 */
export function createRawBridge(ipc: IpcRendererLike, newId: () => string = defaultId): RawBridge {
  const clusterListeners = new Map<string, { onEvent: (e: ClusterEvent) => void; onConnection?: (s: ConnectionState) => void }>();
  const inferListeners = new Map<string, (e: InferenceEvent) => void>();

  ipc.on(StreamChannels.clusterEvent, (_event, payload) => {
    if (!isRecord(payload) || typeof payload.id !== 'string') return;
    const listener = clusterListeners.get(payload.id);
    if (!listener) return;
    if ('event' in payload) listener.onEvent(payload.event as ClusterEvent);
    else if (typeof payload.connection === 'string') listener.onConnection?.(payload.connection as ConnectionState);
  });
  ipc.on(StreamChannels.inferEvent, (_event, payload) => {
    if (!isRecord(payload) || typeof payload.id !== 'string') return;
    inferListeners.get(payload.id)?.(payload.event as InferenceEvent);
  });

  return {
    methods: [...CONTROL_REQUEST_METHODS],
    async call(method, args) {
      if (!METHOD_SET.has(method) || !Array.isArray(args)) return notAllowed(method);
      return asResult(await ipc.invoke(requestChannel(method as ControlRequestMethod), ...args));
    },
    subscribe(onEvent, onConnection) {
      const id = newId();
      let open = true;
      // States come from main (the ControlApi's own stream) and from this side (invoke done, closed); report changes only.
      let last: ConnectionState | null = null;
      const report = onConnection
        ? (state: ConnectionState) => {
            if (state === last) return;
            last = state;
            onConnection(state);
          }
        : undefined;
      clusterListeners.set(id, report ? { onEvent, onConnection: report } : { onEvent });
      report?.('connecting');
      ipc.invoke(StreamChannels.subscribe, id).then(
        (reply) => {
          const result = asResult(reply);
          if (!open) return;
          if (result.ok) report?.('open');
          else {
            clusterListeners.delete(id);
            report?.('closed');
          }
        },
        () => {
          clusterListeners.delete(id);
          if (open) report?.('closed');
        },
      );
      return () => {
        if (!open) return;
        open = false;
        clusterListeners.delete(id);
        void ipc.invoke(StreamChannels.unsubscribe, id).catch(() => undefined);
        report?.('closed');
      };
    },
    async infer(request, onEvent, watchCancel) {
      const id = newId();
      inferListeners.set(id, onEvent);
      try {
        // Start first, then wire the cancel: main handles invokes in order, so a cancel always
        // finds the stream it names.
        const pending = ipc.invoke(StreamChannels.infer, id, request);
        watchCancel?.(() => {
          void ipc.invoke(StreamChannels.inferCancel, id).catch(() => undefined);
        });
        return asResult<null>(await pending);
      } finally {
        inferListeners.delete(id);
      }
    },
  };
}

let counter = 0;
function defaultId(): string {
  counter += 1;
  return `${Date.now().toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
