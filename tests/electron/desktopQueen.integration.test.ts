// The desktop app's main-process half against a REAL queen (in this process), its real local hive
// child and a real worker on the generated demo model — only Electron itself is faked. The path the
// Electron e2e suite drives, minus the Electron binary: start, see the worker, quick inference
// through the preload bridge, Quit → the graceful cascade leaves no process behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { DesktopApp } from '../../src-main/electron/app/DesktopApp.js';
import { createRawBridge } from '../../src-main/electron/preload/createRawBridge.js';
import { installRbee } from '../../src-main/electron/preload/installRbee.js';
import { SecretSealer } from '../../src-main/electron/settings/SecretSealer.js';
import { SettingsStore } from '../../src-main/electron/settings/SettingsStore.js';
import type { TrayMenuItem } from '../../src-main/electron/tray/buildTrayMenu.js';
import type { TrayIconName } from '../../src-main/electron/tray/TrayController.js';
import { fakeIpcMain, fakeSafeStorage, fakeSender, fakeWindowFactory, memorySettingsBackend } from './fakes.js';
import { isAlive } from '../helpers/processTree.js';
import { waitFor } from '../helpers/waitFor.js';

const userData = mkdtempSync(join(tmpdir(), 'rbee-desktop-int-'));

afterAll(() => {
  rmSync(userData, { recursive: true, force: true });
});

describe('desktop app with a real queen', () => {
  it('starts the queen with the demo worker, serves quick inference over the bridge, and Quit stops every local process', async () => {
    const ipc = fakeIpcMain();
    const { createWindow, windows } = fakeWindowFactory();
    const settings = new SettingsStore(memorySettingsBackend({ queen_port: 0 }), new SecretSealer(fakeSafeStorage()));
    const beforeQuit: Array<(e: { preventDefault(): void }) => void> = [];
    let quitted = false;
    let queen: Queen | undefined;
    const host = {
      requestSingleInstanceLock: () => true,
      onSecondInstance: () => undefined,
      onBeforeQuit: (l: (e: { preventDefault(): void }) => void) => void beforeQuit.push(l),
      onWindowAllClosed: () => undefined,
      onActivate: () => undefined,
      onQuickInferenceRequest: () => undefined,
      quit: () => {
        let prevented = false;
        for (const l of beforeQuit) l({ preventDefault: () => (prevented = true) });
        if (!prevented) quitted = true;
      },
      exit: () => undefined,
      ipcMain: ipc.ipcMain,
      createWindow,
      createTray: () => ({ setImage: () => undefined, setToolTip: () => undefined, setContextMenu: () => undefined, on: () => undefined, destroy: () => undefined }),
      buildMenu: (items: TrayMenuItem[]) => items,
      trayIcons: { ready: 'ready', degraded: 'degraded', down: 'down', starting: 'starting' } as Record<TrayIconName, TrayIconName>,
      registerShortcut: () => true,
      unregisterAllShortcuts: () => undefined,
      showError: (title: string, message: string) => {
        throw new Error(`${title}: ${message}`);
      },
    };
    const app = new DesktopApp<TrayIconName, TrayMenuItem[]>({
      host,
      settings,
      createQueen: async (options) => {
        queen = await createQueen({ ...options, workerThreads: 1, logger: createLogger('queen', { level: 'warn' }) });
        return queen;
      },
      dataDir: join(userData, 'rbee'),
      preloadPath: '/unused/preload.cjs',
      rendererDir: join(userData, 'renderer'),
    });
    expect(app.claimSingleInstance()).toBe(true);
    await app.start();
    expect(app.currentPhase).toBe('running');

    // The dashboard window's preload: raw bridge over (fake) IPC, window.rbee built by installRbee.
    const dashboard = fakeSender(windows[0]!.webContents.id);
    const listeners = new Map<string, Array<(e: unknown, p: unknown) => void>>();
    dashboard.send = (channel: string, payload?: unknown) => queueMicrotask(() => listeners.get(channel)?.forEach((l) => l({}, payload)));
    const raw = createRawBridge({
      invoke: (channel, ...args) => ipc.invoke(dashboard, channel, ...args),
      on: (channel, l) => void listeners.set(channel, [...(listeners.get(channel) ?? []), l]),
    });
    const page: { rbee?: ControlApi } = {};
    installRbee(raw, page);
    const rbee = page.rbee!;

    // See the demo worker reach ready (through the event stream the dashboard uses).
    const ready = await new Promise<ClusterSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('demo worker not ready within 90 s')), 90_000);
      const unsubscribe = rbee.subscribe(() => {
        void rbee.getSnapshot().then((s) => {
          if (s.workers.some((w) => w.state === 'idle' || w.state === 'busy')) {
            clearTimeout(timer);
            unsubscribe();
            resolve(s);
          }
        });
      });
    });
    const demo = ready.workers.find((w) => w.state === 'idle' || w.state === 'busy')!;
    expect(ready.models.find((m) => m.name === demo.model)?.is_demo).toBe(true);
    expect(app.tray?.currentIcon).toBe('ready');

    // Quick inference, as the popup does it. ignore_eos: the random demo weights may end at once, and
    // this checks that tokens flow over the bridge.
    const events: InferenceEvent[] = [];
    await rbee.infer({ prompt: 'Hello from the tray', model: demo.model, max_tokens: 8, ignore_eos: true }, (e) => events.push(e));
    // The last event may trail the promise over the (fake) IPC: wait for it rather than sleep.
    await waitFor(() => events.some((e) => e.type === 'end' || e.type === 'error'), { what: 'the end event over the bridge' });
    expect(events[0]?.type).toBe('started');
    expect(events.filter((e) => e.type === 'token').length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ type: 'end' });
    // A chat turn over IPC (the dashboard's chat without the HTTP route): the history as messages,
    // rendered by the model's template; `started` names the serving worker.
    const chat: InferenceEvent[] = [];
    await rbee.infer(
      {
        model: demo.model,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello' },
          { role: 'user', content: 'Again' },
        ],
        max_tokens: 4,
        ignore_eos: true,
      },
      (e) => chat.push(e),
    );
    expect(chat[0]).toMatchObject({ type: 'started', worker: `${demo.hive}/${demo.id}` });
    expect(chat.at(-1)).toMatchObject({ type: 'end', tokens_out: 4, stop_reason: 'max_tokens' });

    // Quit: the cascade stops the local hive and its worker.
    const hivePid = queen?.localHivePid?.() ?? null;
    const pids = [demo.pid, hivePid].filter((p): p is number => typeof p === 'number');
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    host.quit();
    expect(quitted).toBe(false);
    await app.shutdown();
    await waitFor(() => quitted, { what: 'the app to quit after the cascade' });
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} outlived the quit`).toBe(false);
    // The dashboard's calls are refused after the quit (handlers removed).
    await expect(ipc.invoke(dashboard, 'rbee:getSnapshot')).rejects.toThrow(/No handler/);
  }, 150_000);
});
