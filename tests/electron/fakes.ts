// The fake Electron used by the shell's tests: the only mock allowed here, at the boundary.
// Each fake implements the narrow interface the shell declares for the Electron object it stands for.
import { vi } from 'vitest';
import type { ClusterEvent, ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { AddHiveResult, ConnectionState, ControlApi, Settings } from '../../src-shared/control/ControlApi.js';
import type { PoolInfo, PoolTestResult } from '../../src-shared/control/poolSchemas.js';
import type { InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import type { DesktopPreferences, DesktopPreferencesPatch } from '../../src-shared/desktop/desktopPreferences.js';
import type { IpcInvokeEvent, IpcMainLike, IpcSender } from '../../src-main/electron/ipc/registerControlIpc.js';
import type { SafeStorageLike } from '../../src-main/electron/settings/SecretSealer.js';
import type { SettingsBackend } from '../../src-main/electron/settings/SettingsStore.js';
import type { CreateWindow, ShellWindow, ShellWebContents } from '../../src-main/electron/windows/ShellWindow.js';
import { fakeApiKey } from '../helpers/fakeApiKey.js';

type BrowserWindowConstructorOptions = Parameters<CreateWindow>[0];
type Rectangle = ReturnType<ShellWindow['getBounds']>;

export function hive(id: string, state: HiveInfo['state'] = 'online', kind: HiveInfo['kind'] = 'local'): HiveInfo {
  return {
    id,
    kind,
    state,
    address: kind === 'local' ? '127.0.0.1:7835' : `lab@${id}.lan:22`,
    version: '0.1.0',
    os: 'linux',
    arch: 'x64',
    node_version: '20.20.0',
    devices: [],
    last_seen: 1,
    restart_count: 0,
    message: null,
  };
}

export function worker(id: string, state: WorkerState, hiveId = 'local', model = 'rbee-demo-tiny.gguf'): WorkerInfo {
  return {
    id,
    hive: hiveId,
    model,
    device: 'cpu',
    state,
    pid: 100,
    port: 40000,
    slots: { total: 2, free: 2 },
    restart_count: 0,
    restart_attempts: 0,
    last_exit: null,
    breaker: { state: 'closed', failures_in_window: 0, opens_until: null },
    next_restart_at: null,
    started_at: 1,
    last_heartbeat: 1,
    load_progress: 1,
    load_failed: false,
    stopped_by: null,
    gpu: null,
    offload: { layers: 0, total: 3 },
    vram_bytes: 0,
    vram_measured_bytes: null,
  };
}

export function snapshot(hives: HiveInfo[], workers: WorkerInfo[]): ClusterSnapshot {
  return { hives, workers, models: [] };
}

export const SETTINGS: Settings = {
  restart_policy: {
    backoff_base_ms: 1000,
    backoff_max_ms: 60000,
    jitter_ratio: 0.2,
    max_restarts: 3,
    stability_window_ms: 300000,
    breaker_failures: 5,
    breaker_window_ms: 300000,
    breaker_cooldown_ms: 60000,
    load_timeout_ms: 120000,
    health_period_ms: 5000,
    health_failures: 3,
  },
  audit_mode: 'local',
  audit_retention_days: null,
  audit_max_bytes: null,
  audit_fail_closed: false,
  queen_port: 7833,
  hive_port: 7835,
  api_token_fingerprint: 'token:9f86d0',
  models_dir: '/tmp/models',
  allowed_hosts: [],
  allowed_origins: [],
  downloads_allow_loopback: false,
  downloads_allow_private: true,
};

export const DESKTOP_PREFERENCES: DesktopPreferences = {
  queen_port: 7833,
  hive_port: 7835,
  models_dir: null,
  quick_shortcut: 'CommandOrControl+Shift+Space',
  close_to_tray: true,
  warm_standby: 1,
  notifications: true,
  lan_exposure: false,
  lan_tls: true,
  lan_plain_http_confirmed: false,
};

/** A ControlApi whose every method is a vi.fn; `emit` pushes ClusterEvents to subscribers. */
export function fakeControl(initial: ClusterSnapshot = snapshot([hive('local')], [worker('w1', 'idle')])) {
  const subscribers = new Set<{ onEvent: (e: ClusterEvent) => void; onConnection?: (s: ConnectionState) => void }>();
  let seq = 0;
  const control = {
    getSnapshot: vi.fn(async () => initial),
    subscribe: vi.fn((onEvent: (e: ClusterEvent) => void, onConnection?: (s: ConnectionState) => void) => {
      const sub = onConnection ? { onEvent, onConnection } : { onEvent };
      subscribers.add(sub);
      onConnection?.('open');
      onEvent({ type: 'snapshot', snapshot: initial, seq: ++seq, at: Date.now() });
      return () => {
        subscribers.delete(sub);
      };
    }),
    spawnWorker: vi.fn(async () => worker('w2', 'loading')),
    listWorkerSpecs: vi.fn(async () => []),
    createWorkerSpec: vi.fn(async () => ({ hive: 'local', id: 'w2', spec: null, worker: worker('w2', 'loading') })),
    getWorkerSpec: vi.fn(async () => ({ hive: 'local', id: 'w1', spec: null, worker: worker('w1', 'idle') })),
    replaceWorkerSpec: vi.fn(async () => ({ hive: 'local', id: 'w1', spec: null, worker: worker('w1', 'idle') })),
    deleteWorkerSpec: vi.fn(async () => undefined),
    stopWorker: vi.fn(async () => undefined),
    startWorker: vi.fn(async () => undefined),
    restartWorker: vi.fn(async () => undefined),
    resetBreaker: vi.fn(async () => undefined),
    getWorkerLogs: vi.fn(async (_hive: string, id: string, _tail: number) => ({ worker_id: id, lines: [{ seq: 1, at: 0, stream: 'stdout' as const, text: 'listening' }] })),
    listModels: vi.fn(async () => []),
    downloadModel: vi.fn(async () => ({ download_id: 'd1' })),
    uploadModel: vi.fn(async () => ({ upload_id: 'u1', bytes_total: 1 })),
    deleteModel: vi.fn(async () => undefined),
    listHives: vi.fn(async () => initial.hives),
    addHive: vi.fn(async (): Promise<AddHiveResult> => ({ status: 'needs_trust', fingerprint: 'SHA256:x', key_type: 'ssh-ed25519', host: 'gpu1' })),
    removeHive: vi.fn(async () => undefined),
    listPools: vi.fn(async (): Promise<PoolInfo[]> => []),
    testPool: vi.fn(async (): Promise<PoolTestResult> => ({ ok: true, latency_ms: 1, models: [], error: null })),
    resetPoolBreaker: vi.fn(async (): Promise<PoolInfo> => Promise.reject(new Error('no pools in the fake'))),
    queryAudit: vi.fn(async () => ({ records: [], next_cursor: null })),
    verifyAudit: vi.fn(async () => ({ ok: true as const, entries: 0, files: 0 })),
    getSettings: vi.fn(async () => SETTINGS),
    updateSettings: vi.fn(async () => SETTINGS),
    getDesktopPreferences: vi.fn(async () => ({ ...DESKTOP_PREFERENCES })),
    updateDesktopPreferences: vi.fn(async (patch: DesktopPreferencesPatch) => ({ ...DESKTOP_PREFERENCES, ...patch })),
    listKeys: vi.fn(async () => [fakeApiKey()]),
    createKey: vi.fn(async () => ({ ...fakeApiKey(), secret: 'rbee_secret_once' })),
    revokeKey: vi.fn(async () => fakeApiKey({ revoked_at: 1 })),
    revealAdminToken: vi.fn(async () => 'fake-admin-token'),
    infer: vi.fn(async (_req: unknown, onEvent: (e: InferenceEvent) => void, signal?: { aborted: boolean }) => {
      onEvent({ type: 'started', job_id: 'j1', model: 'm' });
      onEvent({ type: 'token', t: 'hi', i: 0 });
      if (!signal?.aborted) onEvent({ type: 'end', tokens_out: 1, decode_ms: 1, stop_reason: 'max_tokens' });
    }),
  } satisfies ControlApi;
  return {
    control,
    subscribers,
    emit(body: Omit<ClusterEvent, 'seq' | 'at'> & Record<string, unknown>) {
      const event = { ...body, seq: ++seq, at: Date.now() } as ClusterEvent;
      for (const s of subscribers) s.onEvent(event);
    },
  };
}

/** Fake `ipcMain` + the senders that call into it. */
export function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcInvokeEvent, ...args: unknown[]) => unknown>();
  const ipcMain: IpcMainLike = {
    handle: vi.fn((channel: string, listener: (event: IpcInvokeEvent, ...args: unknown[]) => unknown) => {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, listener);
    }),
    removeHandler: vi.fn((channel: string) => {
      handlers.delete(channel);
    }),
  };
  return {
    ipcMain,
    handlers,
    async invoke(sender: FakeSender, channel: string, ...args: unknown[]): Promise<unknown> {
      const handler = handlers.get(channel);
      if (!handler) throw new Error(`No handler registered for '${channel}'`);
      return handler({ sender, senderFrame: sender.frame }, ...args);
    },
  };
}

export interface FakeSender extends IpcSender {
  frame: { url: string; parent: unknown } | null;
  sent: Array<{ channel: string; payload: unknown }>;
  destroy(): void;
}

export function fakeSender(id: number, url = 'app://rbee/index.html#/', parent: unknown = null): FakeSender {
  let destroyed = false;
  const onDestroyed: Array<() => void> = [];
  return {
    id,
    frame: { url, parent },
    sent: [],
    send(channel: string, ...args: unknown[]) {
      this.sent.push({ channel, payload: args[0] });
    },
    isDestroyed: () => destroyed,
    once(_event: 'destroyed', listener: () => void) {
      onDestroyed.push(listener);
    },
    destroy() {
      destroyed = true;
      for (const l of onDestroyed.splice(0)) l();
    },
  };
}

/** electron-store's part, in memory: the whole settings object, copied on every read and write as a store would. */
export function memorySettingsBackend(initial: Record<string, unknown> = {}): SettingsBackend {
  let data = structuredClone(initial);
  return {
    get store() {
      return structuredClone(data);
    },
    set store(value) {
      data = structuredClone(value);
    },
  };
}

/** Reversible "encryption" that never contains the plaintext: base64 of the reversed bytes, tagged. */
export function fakeSafeStorage(options: { available?: boolean; backend?: string } = {}): SafeStorageLike {
  const available = options.available ?? true;
  return {
    isEncryptionAvailable: () => available,
    encryptString: (plain: string) => Buffer.concat([Buffer.from('v10'), Buffer.from(plain, 'utf8').reverse()]),
    decryptString: (data: Buffer) => {
      if (!data.subarray(0, 3).equals(Buffer.from('v10'))) throw new Error('bad ciphertext');
      return Buffer.from(data.subarray(3)).reverse().toString('utf8');
    },
    ...(options.backend ? { getSelectedStorageBackend: () => options.backend as string } : {}),
  };
}

type Listener = (...args: never[]) => void;

export interface FakeWindow extends ShellWindow {
  options: BrowserWindowConstructorOptions;
  loaded: string[];
  visible: boolean;
  destroyed: boolean;
  title: string;
  progress: number | null;
  emit(event: string, ...args: unknown[]): void;
  pressKey(key: string): boolean;
}

let nextWebContentsId = 1;

export function fakeWindowFactory() {
  const windows: FakeWindow[] = [];
  const createWindow = vi.fn((options: BrowserWindowConstructorOptions): ShellWindow => {
    const listeners = new Map<string, Listener[]>();
    const wcListeners = new Map<string, Listener[]>();
    const add = (map: Map<string, Listener[]>, event: string, l: Listener) => map.set(event, [...(map.get(event) ?? []), l]);
    const webContents: ShellWebContents = {
      id: nextWebContentsId++,
      on(event: string, listener: Listener) {
        add(wcListeners, event, listener);
        return webContents;
      },
    } as ShellWebContents;
    const bounds: Rectangle = { x: 10, y: 20, width: options.width ?? 800, height: options.height ?? 600 };
    const win: FakeWindow = {
      options,
      loaded: [],
      visible: false,
      destroyed: false,
      title: '',
      progress: null,
      webContents,
      async loadURL(url: string) {
        win.loaded.push(url);
      },
      show() {
        win.visible = true;
      },
      hide() {
        win.visible = false;
      },
      focus() {},
      close() {
        let prevented = false;
        win.emit('close', { preventDefault: () => (prevented = true) });
        if (!prevented) win.destroy();
      },
      destroy() {
        if (win.destroyed) return;
        win.destroyed = true;
        win.visible = false;
        win.emit('closed');
      },
      isDestroyed: () => win.destroyed,
      isVisible: () => win.visible,
      isMinimized: () => false,
      isMaximized: () => false,
      restore() {},
      maximize() {},
      getBounds: () => bounds,
      setTitle(title: string) {
        win.title = title;
      },
      setProgressBar(p: number) {
        win.progress = p;
      },
      on(event: string, listener: Listener) {
        add(listeners, event, listener);
        return win;
      },
      emit(event: string, ...args: unknown[]) {
        for (const l of listeners.get(event) ?? []) (l as (...a: unknown[]) => void)(...args);
      },
      pressKey(key: string) {
        let prevented = false;
        for (const l of wcListeners.get('before-input-event') ?? [])
          (l as (...a: unknown[]) => void)({ preventDefault: () => (prevented = true) }, { type: 'keyDown', key });
        return prevented;
      },
    } as FakeWindow;
    windows.push(win);
    return win;
  });
  return { createWindow, windows };
}

/** Electron's `Notification` as the shell uses it: built with title and body, then shown. */
export function fakeNotifications() {
  const shown: Array<{ title: string; body: string }> = [];
  const createNotification = vi.fn((options: { title: string; body: string }) => ({ show: () => void shown.push(options) }));
  return { createNotification, shown };
}
