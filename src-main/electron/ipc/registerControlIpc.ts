import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import type { ZodError } from 'zod';
import {
  CONTROL_REQUEST_METHODS,
  requestChannel,
  StreamChannels,
  type ControlRequestMethod,
  type IpcError,
  type IpcResult,
} from './controlChannels.js';
import { ControlArgSchemas, InferArgsSchema, StreamIdSchema, SubscribeArgsSchema } from '../../../src-shared/control/controlSchemas.js';
import { isTrustedSender, type SenderFrameLike, type SenderPolicy } from './senderPolicy.js';

/** The part of a renderer's WebContents the IPC layer uses. */
export interface IpcSender {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

export interface IpcInvokeEvent {
  readonly sender: IpcSender;
  readonly senderFrame: SenderFrameLike | null;
}

/** The part of Electron's `ipcMain` the IPC layer uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface RegisterControlIpcOptions {
  ipcMain: IpcMainLike;
  /** Resolved lazily: the queen starts after the window may already be asking. */
  control: () => ControlApi | Promise<ControlApi>;
  senderPolicy: SenderPolicy;
  /** Told about rejected senders and arguments (never about arguments' contents). */
  onRejected?: (what: { channel: string; reason: string }) => void;
}

export class UntrustedSenderError extends Error {
  override readonly name = 'UntrustedSenderError';
}

export interface ControlIpcRegistration {
  /** Removes every handler and ends every open stream. Idempotent. */
  dispose(): void;
  /** Open cluster subscriptions + inference streams (for tests and leak checks). */
  readonly openStreams: number;
}

function invalidArguments(channel: string, error: ZodError): IpcError {
  const issues = error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
  return { status: 400, code: 'INVALID_REQUEST', message: `Invalid arguments for ${channel}: ${issues}` };
}

/** Maps anything thrown by the ControlApi to the wire error; ApiError-shaped values keep code and status. */
export function toIpcError(error: unknown): IpcError {
  if (typeof error === 'object' && error !== null) {
    const e = error as { status?: unknown; code?: unknown; message?: unknown };
    if (typeof e.code === 'string' && typeof e.status === 'number') {
      return { status: e.status, code: e.code, message: typeof e.message === 'string' ? e.message : e.code };
    }
    if (typeof e.message === 'string') return { status: 500, code: 'INTERNAL', message: e.message };
  }
  return { status: 500, code: 'INTERNAL', message: String(error) };
}

/**
 * Registers one `ipcMain.handle` per ControlApi method. Every call: (1) the sender must be one of our
 * windows' top frames on our origin, else the invoke rejects; (2) the arguments are parsed with the
 * method's zod tuple, else `INVALID_REQUEST` comes back and the ControlApi is not called; (3) the
 * ControlApi runs and its result or error is returned as an `IpcResult`.
 */
export function registerControlIpc(options: RegisterControlIpcOptions): ControlIpcRegistration {
  const { ipcMain, senderPolicy } = options;
  const channels: string[] = [];
  /** key `${webContentsId}:${streamId}` → cleanup */
  const streams = new Map<string, () => void>();
  const watchedSenders = new Set<number>();

  const guard = (channel: string, event: IpcInvokeEvent): void => {
    if (!isTrustedSender(senderPolicy, event.sender, event.senderFrame)) {
      options.onRejected?.({ channel, reason: 'untrusted sender' });
      throw new UntrustedSenderError(`Refused ${channel} from an untrusted sender`);
    }
  };

  const handle = (channel: string, listener: (event: IpcInvokeEvent, args: unknown[]) => Promise<unknown>): void => {
    ipcMain.handle(channel, (event, ...args) => {
      guard(channel, event);
      return listener(event, args);
    });
    channels.push(channel);
  };

  const endStreamsOf = (senderId: number): void => {
    for (const [key, end] of streams) {
      if (key.startsWith(`${senderId}:`)) {
        streams.delete(key);
        end();
      }
    }
  };

  const watchSender = (sender: IpcSender): void => {
    if (watchedSenders.has(sender.id)) return;
    watchedSenders.add(sender.id);
    sender.once('destroyed', () => {
      watchedSenders.delete(sender.id);
      endStreamsOf(sender.id);
    });
  };

  const safeSend = (sender: IpcSender, channel: string, payload: unknown): void => {
    if (!sender.isDestroyed()) sender.send(channel, payload);
  };

  for (const method of CONTROL_REQUEST_METHODS) {
    const channel = requestChannel(method);
    handle(channel, async (_event, args): Promise<IpcResult<unknown>> => {
      const parsed = ControlArgSchemas[method].safeParse(args);
      if (!parsed.success) {
        options.onRejected?.({ channel, reason: 'invalid arguments' });
        return { ok: false, error: invalidArguments(channel, parsed.error) };
      }
      try {
        const control = await options.control();
        const value = await callControl(control, method, parsed.data);
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error: toIpcError(error) };
      }
    });
  }

  handle(StreamChannels.subscribe, async (event, args): Promise<IpcResult<null>> => {
    const parsed = SubscribeArgsSchema.safeParse(args);
    if (!parsed.success) return { ok: false, error: invalidArguments(StreamChannels.subscribe, parsed.error) };
    const [id] = parsed.data;
    const key = `${event.sender.id}:${id}`;
    if (streams.has(key)) return { ok: false, error: { status: 409, code: 'CONFLICT', message: `Stream ${id} is already open` } };
    const sender = event.sender;
    watchSender(sender);
    const control = await options.control();
    const unsubscribe = control.subscribe(
      (clusterEvent) => safeSend(sender, StreamChannels.clusterEvent, { id, event: clusterEvent }),
      (connection) => safeSend(sender, StreamChannels.clusterEvent, { id, connection }),
    );
    streams.set(key, unsubscribe);
    return { ok: true, value: null };
  });

  handle(StreamChannels.unsubscribe, async (event, args): Promise<IpcResult<null>> => {
    const parsed = SubscribeArgsSchema.safeParse(args);
    if (!parsed.success) return { ok: false, error: invalidArguments(StreamChannels.unsubscribe, parsed.error) };
    const key = `${event.sender.id}:${parsed.data[0]}`;
    const end = streams.get(key);
    streams.delete(key);
    end?.();
    return { ok: true, value: null };
  });

  handle(StreamChannels.infer, async (event, args): Promise<IpcResult<null>> => {
    const parsed = InferArgsSchema.safeParse(args);
    if (!parsed.success) {
      options.onRejected?.({ channel: StreamChannels.infer, reason: 'invalid arguments' });
      return { ok: false, error: invalidArguments(StreamChannels.infer, parsed.error) };
    }
    const [id, request] = parsed.data;
    const key = `${event.sender.id}:infer:${id}`;
    if (streams.has(key)) return { ok: false, error: { status: 409, code: 'CONFLICT', message: `Stream ${id} is already open` } };
    const sender = event.sender;
    watchSender(sender);
    const controller = new AbortController();
    streams.set(key, () => controller.abort());
    try {
      const control = await options.control();
      await control.infer(request, (inferenceEvent) => safeSend(sender, StreamChannels.inferEvent, { id, event: inferenceEvent }), controller.signal);
      return { ok: true, value: null };
    } catch (error) {
      return { ok: false, error: toIpcError(error) };
    } finally {
      streams.delete(key);
    }
  });

  handle(StreamChannels.inferCancel, async (event, args): Promise<IpcResult<null>> => {
    const parsed = StreamIdSchema.safeParse(args[0]);
    if (!parsed.success || args.length !== 1) return { ok: false, error: { status: 400, code: 'INVALID_REQUEST', message: 'Invalid stream id' } };
    const key = `${event.sender.id}:infer:${parsed.data}`;
    const cancel = streams.get(key);
    streams.delete(key);
    cancel?.();
    return { ok: true, value: null };
  });

  let disposed = false;
  return {
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const channel of channels) ipcMain.removeHandler(channel);
      for (const end of streams.values()) end();
      streams.clear();
    },
    get openStreams() {
      return streams.size;
    },
  };
}

/** Calls `control[method](...args)` with the tuple zod produced for that method. */
function callControl(control: ControlApi, method: ControlRequestMethod, args: readonly unknown[]): Promise<unknown> {
  const fn = control[method] as ((...a: unknown[]) => Promise<unknown>) | undefined;
  // Optional methods (the desktop preferences) exist only where the host provides them.
  if (!fn) return Promise.reject(Object.assign(new Error(`${method} is not available here`), { status: 501, code: 'NOT_IMPLEMENTED' }));
  return fn.apply(control, [...args]);
}
