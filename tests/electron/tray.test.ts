import { describe, expect, it, vi } from 'vitest';
import { buildTrayMenu, MAX_WORKER_LINES, type TrayMenuItem } from '../../src-main/electron/tray/buildTrayMenu.js';
import { clusterHealth } from '../../src-main/electron/tray/clusterHealth.js';
import { TrayController, type TrayIconName } from '../../src-main/electron/tray/TrayController.js';
import { fakeControl, hive, snapshot, worker } from './fakes.js';

const ALL_READY = snapshot([hive('local'), hive('gpu1', 'online', 'remote')], [worker('w1', 'idle'), worker('w2', 'busy', 'gpu1', 'llama-8b.gguf')]);
const DEGRADED = snapshot([hive('local'), hive('gpu1', 'unreachable', 'remote')], [worker('w1', 'idle'), worker('w2', 'backoff', 'gpu1')]);
const DOWN = snapshot([hive('local')], [worker('w1', 'failed'), worker('w2', 'crashed')]);

const noop = { quickInference: vi.fn(), openDashboard: vi.fn(), pauseAll: vi.fn(), resumeAll: vi.fn(), quit: vi.fn() };

describe('overall health from a cluster snapshot', () => {
  it('all ready: every hive online, every worker idle or busy', () => {
    const h = clusterHealth(ALL_READY);
    expect(h.overall).toBe('ready');
    expect(h.tooltip).toBe('rbee — all ready: 2/2 workers ready, 2/2 hives online');
  });
  it('degraded: serving, but a hive is unreachable or a worker is failing', () => {
    const h = clusterHealth(DEGRADED);
    expect(h.overall).toBe('degraded');
    expect(h.tooltip).toBe('rbee — degraded: 1/2 workers ready, 1/2 hives online, 1 failing');
    expect(clusterHealth(snapshot([hive('local')], [worker('w1', 'idle'), worker('w2', 'unhealthy')])).overall).toBe('degraded');
  });
  it('down: no worker can serve, or no hive is online', () => {
    expect(clusterHealth(DOWN).overall).toBe('down');
    expect(clusterHealth(snapshot([hive('local', 'failed')], [worker('w1', 'idle')])).overall).toBe('down');
    expect(clusterHealth(snapshot([hive('local')], [])).overall).toBe('down');
  });
  it('loading and operator-stopped workers are not faults', () => {
    expect(clusterHealth(snapshot([hive('local')], [worker('w1', 'idle'), worker('w2', 'loading'), worker('w3', 'stopped')])).overall).toBe('ready');
  });
});

describe('tray menu reflects the snapshot', () => {
  const labels = (items: TrayMenuItem[]) => items.filter((i) => i.type !== 'separator').map((i) => i.label);

  it('has Quick inference…, Open dashboard, the workers summary, Pause all and Quit', () => {
    const items = buildTrayMenu({ snapshot: ALL_READY, paused: false, busy: false, quitting: false, quickShortcut: 'CommandOrControl+Shift+Space' }, noop);
    expect(labels(items)).toEqual([
      'Quick inference…',
      'Open dashboard',
      'Workers: 1 idle · 1 busy',
      '  llama-8b.gguf on gpu1 — busy',
      '  rbee-demo-tiny.gguf on local — idle',
      'Pause all',
      'Quit',
    ]);
    expect(items[0]?.accelerator).toBe('CommandOrControl+Shift+Space');
    expect(items.find((i) => i.id === 'summary')?.enabled).toBe(false);
  });

  it('shows failing workers with their restart counts', () => {
    const w = { ...worker('w2', 'backoff', 'gpu1'), restart_count: 2 };
    const items = buildTrayMenu({ snapshot: snapshot([hive('gpu1')], [w]), paused: false, busy: false, quitting: false }, noop);
    expect(labels(items)).toContain('  rbee-demo-tiny.gguf on gpu1 — backoff · 2 restarts');
  });

  it('caps the worker lines', () => {
    const many = Array.from({ length: MAX_WORKER_LINES + 3 }, (_, i) => worker(`w${i}`, 'idle'));
    const items = buildTrayMenu({ snapshot: snapshot([hive('local')], many), paused: false, busy: false, quitting: false }, noop);
    expect(labels(items)).toContain('  … and 3 more');
  });

  it('offers Resume after a pause, and nothing but progress while quitting', () => {
    expect(labels(buildTrayMenu({ snapshot: ALL_READY, paused: true, busy: false, quitting: false }, noop))).toContain('Resume');
    const quitting = buildTrayMenu({ snapshot: ALL_READY, paused: false, busy: false, quitting: true }, noop);
    expect(quitting.find((i) => i.id === 'quit')).toMatchObject({ label: 'Quitting…', enabled: false });
    expect(quitting.find((i) => i.id === 'quick')?.enabled).toBe(false);
    expect(labels(buildTrayMenu({ snapshot: null, paused: false, busy: false, quitting: false }, noop))).toContain('Starting…');
  });

  it('menu items call the actions', () => {
    const actions = { quickInference: vi.fn(), openDashboard: vi.fn(), pauseAll: vi.fn(), resumeAll: vi.fn(), quit: vi.fn() };
    const items = buildTrayMenu({ snapshot: ALL_READY, paused: false, busy: false, quitting: false }, actions);
    for (const id of ['quick', 'dashboard', 'pause', 'quit']) items.find((i) => i.id === id)?.click?.();
    expect(actions.quickInference).toHaveBeenCalledOnce();
    expect(actions.openDashboard).toHaveBeenCalledOnce();
    expect(actions.pauseAll).toHaveBeenCalledOnce();
    expect(actions.quit).toHaveBeenCalledOnce();
  });
});

describe('TrayController follows the event stream', () => {
  function setup(initial = ALL_READY) {
    const images: TrayIconName[] = [];
    const tooltips: string[] = [];
    const menus: TrayMenuItem[][] = [];
    const tray = {
      setImage: (i: TrayIconName) => images.push(i),
      setToolTip: (t: string) => tooltips.push(t),
      setContextMenu: (m: TrayMenuItem[] | null) => m && menus.push(m),
      on: vi.fn(),
      destroy: vi.fn(),
    };
    const fake = fakeControl(initial);
    const controller = new TrayController<TrayIconName, TrayMenuItem[]>({
      tray,
      icons: { ready: 'ready', degraded: 'degraded', down: 'down', starting: 'starting' },
      buildMenu: (items) => items,
      openDashboard: vi.fn(),
      quickInference: vi.fn(),
      quit: vi.fn(),
    });
    return { controller, fake, images, tooltips, menus, tray };
  }

  it('switches icon and tooltip as workers change state', () => {
    const { controller, fake, images, tooltips } = setup();
    expect(images).toEqual(['starting']);
    controller.attach(fake.control);
    expect(images.at(-1)).toBe('ready');
    fake.emit({ type: 'worker_updated', worker: worker('w2', 'crashed', 'gpu1', 'llama-8b.gguf') });
    expect(images.at(-1)).toBe('degraded');
    expect(tooltips.at(-1)).toContain('degraded');
    fake.emit({ type: 'worker_updated', worker: worker('w1', 'failed') });
    expect(images.at(-1)).toBe('down');
    fake.emit({ type: 'worker_updated', worker: worker('w1', 'idle') });
    fake.emit({ type: 'worker_updated', worker: worker('w2', 'idle', 'gpu1', 'llama-8b.gguf') });
    expect(images.at(-1)).toBe('ready');
    expect(images).toEqual(['starting', 'ready', 'degraded', 'down', 'degraded', 'ready']);
    controller.dispose();
    expect(fake.subscribers.size).toBe(0);
  });

  it('Pause all stops the running workers and Resume starts exactly those', async () => {
    const { controller, fake, menus } = setup(snapshot([hive('local')], [worker('w1', 'idle'), worker('w2', 'busy'), worker('w3', 'stopped')]));
    controller.attach(fake.control);
    await controller.pauseAll();
    expect(fake.control.stopWorker.mock.calls).toEqual([
      ['local', 'w1'],
      ['local', 'w2'],
    ]);
    expect(menus.at(-1)?.some((i) => i.id === 'resume')).toBe(true);
    await controller.resumeAll();
    expect(fake.control.startWorker.mock.calls).toEqual([
      ['local', 'w1'],
      ['local', 'w2'],
    ]);
    expect(menus.at(-1)?.some((i) => i.id === 'pause')).toBe(true);
  });

  it('shows shutdown progress while quitting', () => {
    const { controller, fake, tooltips } = setup();
    controller.attach(fake.control);
    controller.setQuitting();
    fake.emit({ type: 'shutdown_progress', progress: { hive_id: 'local', phase: 'sigterm', remaining_workers: 2 } });
    expect(tooltips.at(-1)).toBe('rbee — stopping: 2 workers left on local (sigterm)');
  });
});
