import { describe, expect, it, vi } from 'vitest';
import type { AddHiveResult } from '../../src-shared/control/ControlApi.js';
import { persistingControl } from '../../src-main/electron/app/persistingControl.js';
import { SecretSealer } from '../../src-main/electron/settings/SecretSealer.js';
import { SettingsStore } from '../../src-main/electron/settings/SettingsStore.js';
import { ShellWindows } from '../../src-main/electron/windows/ShellWindows.js';
import { fakeControl, fakeSafeStorage, fakeWindowFactory, hive, memorySettingsBackend, SETTINGS, snapshot } from './fakes.js';

function store() {
  return new SettingsStore(memorySettingsBackend(), new SecretSealer(fakeSafeStorage()));
}

describe('settings and hives changed in the dashboard survive a restart', () => {
  it('updateSettings is mirrored into the desktop store', async () => {
    const settings = store();
    const fake = fakeControl();
    fake.control.updateSettings.mockResolvedValueOnce({ ...SETTINGS, audit_mode: 'disabled', restart_policy: { ...SETTINGS.restart_policy, max_restarts: 7 } });
    const control = persistingControl(fake.control, settings);
    await control.updateSettings({ audit_mode: 'disabled', restart_policy: { max_restarts: 7 } });
    expect(settings.get().audit_mode).toBe('disabled');
    expect(settings.get().restart_policy.max_restarts).toBe(7);
  });

  it('an added remote hive is saved with its trusted fingerprint; a needs_trust answer saves nothing', async () => {
    const settings = store();
    const fake = fakeControl();
    const control = persistingControl(fake.control, settings);
    await control.addHive({ host: 'gpu1' });
    expect(settings.get().hives).toEqual([]);
    const added: AddHiveResult = {
      status: 'added',
      hive: hive('gpu1', 'online', 'remote'),
      preflight: { os: 'linux', arch: 'x64', node_version: '20.20.0', node_ok: true, free_disk_bytes: 1, gpus: [], installed_version: null, problems: [] },
    };
    fake.control.addHive.mockResolvedValueOnce(added);
    await control.addHive({ host: 'gpu1.lan', user: 'lab', trust_fingerprint: 'SHA256:abc' });
    expect(settings.get().hives).toEqual([{ host: 'gpu1.lan', user: 'lab', trusted_fingerprint: 'SHA256:abc' }]);

    fake.control.listHives.mockResolvedValueOnce([{ ...hive('gpu1', 'online', 'remote'), address: 'lab@gpu1.lan:22' }]);
    await control.removeHive('gpu1', { stop: false });
    expect(fake.control.removeHive).toHaveBeenCalledWith('gpu1', { stop: false });
    expect(settings.get().hives).toEqual([]);
  });

  it('every other method passes straight through', async () => {
    const fake = fakeControl(snapshot([hive('local')], []));
    const control = persistingControl(fake.control, store());
    await control.restartWorker('local', 'w1');
    expect(fake.control.restartWorker).toHaveBeenCalledWith('local', 'w1');
    const onEvent = vi.fn();
    control.subscribe(onEvent)();
    expect(onEvent).toHaveBeenCalledWith(expect.objectContaining({ type: 'snapshot' }));
  });
});

describe('dashboard window state', () => {
  it('is saved after moves (debounced) and at close, and restored on the next open', async () => {
    vi.useFakeTimers();
    try {
      const saved: unknown[] = [];
      const { createWindow, windows } = fakeWindowFactory();
      const shell = new ShellWindows({
        createWindow,
        preloadPath: '/p.cjs',
        windowState: { x: 50, y: 60, width: 1000, height: 700, maximized: false },
        saveWindowState: (s) => saved.push(s),
      });
      shell.showDashboard();
      expect(windows[0]?.options).toMatchObject({ x: 50, y: 60, width: 1000, height: 700 });
      windows[0]?.emit('resize');
      windows[0]?.emit('move');
      expect(saved).toHaveLength(0);
      vi.advanceTimersByTime(600);
      expect(saved).toEqual([{ x: 10, y: 20, width: 1000, height: 700, maximized: false }]);
      windows[0]?.close();
      expect(saved).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('desktop preferences from the dashboard', () => {
  it('are read from and written to the desktop store with its schema; invalid ones change nothing', async () => {
    const settings = store();
    const control = persistingControl(fakeControl().control, settings);
    expect(await control.getDesktopPreferences!()).toMatchObject({ queen_port: 7833, close_to_tray: true, warm_standby: 1, notifications: true });
    const next = await control.updateDesktopPreferences!({ warm_standby: 0, notifications: false, models_dir: '/srv/models' });
    expect(next).toMatchObject({ warm_standby: 0, notifications: false, models_dir: '/srv/models' });
    expect(settings.get()).toMatchObject({ warm_standby: 0, notifications: false, models_dir: '/srv/models' });
    await expect(control.updateDesktopPreferences!({ queen_port: 70_000 })).rejects.toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect(settings.get().queen_port).toBe(7833);
  });
});
