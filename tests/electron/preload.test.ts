import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { ConnectionState, ControlApi } from '../../src-shared/control/ControlApi.js';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import { CONTROL_REQUEST_METHODS } from '../../src-main/electron/ipc/controlChannels.js';
import { registerControlIpc } from '../../src-main/electron/ipc/registerControlIpc.js';
import { createRawBridge, type IpcRendererLike, type RawBridge } from '../../src-main/electron/preload/createRawBridge.js';
import { installRbee } from '../../src-main/electron/preload/installRbee.js';
import { fakeControl, fakeIpcMain, fakeSender } from './fakes.js';

/** Wires a fake renderer (ipcRenderer) to a fake main (ipcMain + registerControlIpc) through one fake webContents. */
function wire() {
  const main = fakeIpcMain();
  const fake = fakeControl();
  registerControlIpc({ ipcMain: main.ipcMain, control: () => fake.control, senderPolicy: { origins: ['app://rbee'], isOwnWebContents: (id) => id === 7 } });
  const listeners = new Map<string, Array<(event: unknown, payload: unknown) => void>>();
  const sender = fakeSender(7);
  sender.send = (channel: string, payload?: unknown) => {
    // Electron delivers main → renderer messages asynchronously.
    queueMicrotask(() => {
      for (const l of listeners.get(channel) ?? []) l({}, payload);
    });
  };
  const invoked: string[] = [];
  const ipcRenderer: IpcRendererLike = {
    invoke: (channel, ...args) => {
      invoked.push(channel);
      return main.invoke(sender, channel, ...args);
    },
    on: (channel, listener) => {
      listeners.set(channel, [...(listeners.get(channel) ?? []), listener]);
    },
  };
  const raw = createRawBridge(ipcRenderer);
  const target: { rbee?: ControlApi } = {};
  installRbee(raw, target);
  if (!target.rbee) throw new Error('installRbee did not define rbee');
  return { api: target.rbee, raw, fake, invoked, target };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('preload bridge: window.rbee implements exactly ControlApi', () => {
  it('exposes every ControlApi method and nothing else, frozen and read-only', () => {
    const { api, target } = wire();
    expect(Object.keys(api).sort()).toEqual([...CONTROL_REQUEST_METHODS, 'subscribe', 'infer'].sort());
    for (const key of Object.keys(api)) expect(typeof (api as unknown as Record<string, unknown>)[key]).toBe('function');
    expect(Object.isFrozen(api)).toBe(true);
    expect(() => {
      (target as Record<string, unknown>).rbee = {};
    }).toThrow();
    expect(Object.keys(target)).toEqual(['rbee']);
  });

  it('round-trips requests through validated IPC', async () => {
    const { api, fake } = wire();
    await expect(api.getSnapshot()).resolves.toMatchObject({ hives: [{ id: 'local' }] });
    await api.stopWorker('local', 'w1');
    expect(fake.control.stopWorker).toHaveBeenCalledWith('local', 'w1');
  });

  it('rejects with an ApiError-shaped error (name, code, status) for bad arguments and ControlApi errors', async () => {
    const { api, fake } = wire();
    const bad = await api.spawnWorker({ hive_id: 'local', model: '' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ name: 'ApiError', code: 'INVALID_REQUEST', status: 400 });
    expect(fake.control.spawnWorker).not.toHaveBeenCalled();
    fake.control.resetBreaker.mockRejectedValueOnce(new ApiError(404, 'WORKER_NOT_FOUND', 'gone'));
    await expect(api.resetBreaker('local', 'w9')).rejects.toMatchObject({ name: 'ApiError', code: 'WORKER_NOT_FOUND', status: 404, message: 'gone' });
  });

  it('only ever invokes the fixed rbee:* channels, even when the page asks for something else', async () => {
    const { raw, invoked } = wire();
    const reply = await raw.call('__proto__', []);
    expect(reply).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
    await raw.call('constructor', []);
    expect(invoked).toEqual([]);
  });

  it('subscribe delivers the snapshot then events, reports the connection, and unsubscribe stops both ends', async () => {
    const { api, fake } = wire();
    const events: ClusterEvent[] = [];
    const states: ConnectionState[] = [];
    const unsubscribe = api.subscribe((e) => events.push(e), (s) => states.push(s));
    await tick();
    expect(events.map((e) => e.type)).toEqual(['snapshot']);
    expect(states).toEqual(['connecting', 'open']);
    fake.emit({ type: 'hive_removed', hive_id: 'gpu1' });
    await tick();
    expect(events.map((e) => e.type)).toEqual(['snapshot', 'hive_removed']);

    unsubscribe();
    await tick();
    expect(fake.subscribers.size).toBe(0);
    fake.emit({ type: 'hive_removed', hive_id: 'gpu2' });
    await tick();
    expect(events).toHaveLength(2);
    expect(states.at(-1)).toBe('closed');
    unsubscribe(); // idempotent
  });

  it('streams an inference and cancels it through the caller’s AbortSignal', async () => {
    const { api, fake } = wire();
    const events: InferenceEvent[] = [];
    await api.infer({ prompt: 'Hi', model: 'm' }, (e) => events.push(e));
    await tick();
    expect(events.map((e) => e.type)).toEqual(['started', 'token', 'end']);

    let mainSignal: AbortSignal | undefined;
    fake.control.infer.mockImplementationOnce(
      (_r: unknown, onEvent: (e: InferenceEvent) => void, signal?: { aborted: boolean }) =>
        new Promise<void>((resolve) => {
          mainSignal = signal as AbortSignal;
          onEvent({ type: 'started', job_id: 'j2', model: 'm' });
          mainSignal.addEventListener('abort', () => {
            onEvent({ type: 'end', tokens_out: 0, decode_ms: 0, stop_reason: 'cancelled' });
            resolve();
          });
        }),
    );
    const controller = new AbortController();
    const seen: InferenceEvent[] = [];
    const running = api.infer({ prompt: 'Hi', model: 'm' }, (e) => seen.push(e), controller.signal);
    await tick();
    expect(mainSignal?.aborted).toBe(false);
    controller.abort();
    await running;
    expect(mainSignal?.aborted).toBe(true);
    expect(seen.map((e) => e.type)).toEqual(['started', 'end']);
  });

  it('an already-aborted signal rejects with AbortError without reaching main', async () => {
    const { api, fake } = wire();
    const controller = new AbortController();
    controller.abort();
    await expect(api.infer({ prompt: 'Hi', model: 'm' }, () => undefined, controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(fake.control.infer).not.toHaveBeenCalled();
  });

  it('installRbee is self-contained, as executeInMainWorld requires (it is serialised)', () => {
    const source = installRbee.toString();
    const revived = new Function(`return (${source});`)() as typeof installRbee;
    const calls: string[] = [];
    const raw: RawBridge = {
      methods: ['getSnapshot'],
      call: async (method) => {
        calls.push(method);
        return { ok: true, value: 42 };
      },
      subscribe: () => () => undefined,
      infer: async () => ({ ok: true, value: null }),
    };
    const target: { rbee?: { getSnapshot(): Promise<unknown> } } = {};
    revived(raw, target);
    return target.rbee?.getSnapshot().then((v) => {
      expect(v).toBe(42);
      expect(calls).toEqual(['getSnapshot']);
    });
  });
});

describe('preload entry (fake electron module)', () => {
  afterEach(() => {
    vi.doUnmock('electron');
    vi.resetModules();
  });

  it('builds window.rbee in the main world with executeInMainWorld when available', async () => {
    const executeInMainWorld = vi.fn();
    const exposeInMainWorld = vi.fn();
    vi.doMock('electron', () => ({
      contextBridge: { executeInMainWorld, exposeInMainWorld },
      ipcRenderer: { invoke: vi.fn(), on: vi.fn() },
    }));
    await import('../../src-main/electron/preload.js');
    expect(exposeInMainWorld).not.toHaveBeenCalled();
    expect(executeInMainWorld).toHaveBeenCalledTimes(1);
    const script = executeInMainWorld.mock.calls[0]?.[0] as { func: typeof installRbee; args: [RawBridge] };
    expect(script.func).toBe(installRbee);
    const target: Record<string, unknown> = {};
    script.func(script.args[0], target);
    expect(Object.keys(target)).toEqual(['rbee']);
  });

  it('falls back to exposeInMainWorld("rbee", ControlApi) and exposes nothing else', async () => {
    const exposeInMainWorld = vi.fn();
    vi.doMock('electron', () => ({
      contextBridge: { exposeInMainWorld },
      ipcRenderer: { invoke: vi.fn(), on: vi.fn() },
    }));
    await import('../../src-main/electron/preload.js');
    expect(exposeInMainWorld).toHaveBeenCalledTimes(1);
    const [key, api] = exposeInMainWorld.mock.calls[0] as [string, Record<string, unknown>];
    expect(key).toBe('rbee');
    expect(Object.keys(api).sort()).toEqual([...CONTROL_REQUEST_METHODS, 'subscribe', 'infer'].sort());
  });
});
