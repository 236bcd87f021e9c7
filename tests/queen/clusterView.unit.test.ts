import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import { ClusterView } from '../../src-main/queen/cluster/ClusterView.js';
import { ev, hive, model, worker } from '../helpers/clusterFixtures.js';

/**
 * The queen's cluster view on a fake clock, without hives or sockets: how each hive event is applied,
 * what the view re-emits (its own seq and time), and what it refuses to take from a hive. The view
 * keeps no timers of its own: a hive's reachability (and so staleness) is set by the queen's link to
 * it (`patchHive`), which the scheduler tests cover from the consumer's side.
 */
const T0 = 1_700_000_000_000;

function recording(view: ClusterView): ClusterEvent[] {
  const seen: ClusterEvent[] = [];
  view.onChange((event) => seen.push(event));
  return seen;
}

describe('ClusterView', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-emits every change with its own gap-free seq and the time it applied it', () => {
    const view = new ClusterView();
    const seen = recording(view);
    view.upsertHive(hive({ id: 'local' }));
    vi.advanceTimersByTime(250);
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: worker({ id: 'w1' }) }, 77, 5));
    expect(seen.map((e) => [e.type, e.seq, e.at])).toEqual([
      ['hive_updated', 1, T0],
      ['worker_updated', 2, T0 + 250],
    ]);
  });

  it('subscribe hands a snapshot first, then the changes; unsubscribe stops them', () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'local' }));
    const seen: ClusterEvent[] = [];
    const unsubscribe = view.subscribe((event) => seen.push(event));
    expect(seen[0]).toMatchObject({ type: 'snapshot', seq: 2, snapshot: { hives: [{ id: 'local' }], workers: [], models: [], audit_degraded: null } });
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: worker({ id: 'w1' }) }, 1));
    unsubscribe();
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: worker({ id: 'w2' }) }, 2));
    expect(seen.map((e) => e.type)).toEqual(['snapshot', 'worker_updated']);
  });

  it("a hive's snapshot replaces what that hive owns: missing workers are removed, others' are kept, models replaced", () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'a' }));
    view.upsertHive(hive({ id: 'b' }));
    view.applyHiveEvent('a', ev({ type: 'worker_updated', worker: worker({ id: 'gone' }) }, 1));
    view.applyHiveEvent('a', ev({ type: 'worker_updated', worker: worker({ id: 'stays' }) }, 2));
    view.applyHiveEvent('b', ev({ type: 'worker_updated', worker: worker({ id: 'gone' }) }, 1));
    const seen = recording(view);
    view.applyHiveEvent(
      'a',
      ev({ type: 'snapshot', snapshot: { hives: [hive({ id: 'a' })], workers: [worker({ id: 'stays', hive: 'a', state: 'busy' })], models: [model({ name: 'x.gguf', hive: 'elsewhere' })] } }, 3),
    );
    expect(view.worker('a', 'gone')).toBeUndefined();
    expect(view.worker('a', 'stays')?.state).toBe('busy');
    expect(view.worker('b', 'gone')).toBeDefined(); // same id on another hive: not this hive's business
    expect(view.allModels()).toEqual([model({ name: 'x.gguf', hive: 'a' })]); // stamped with the hive it came from
    expect(seen.map((e) => e.type)).toEqual(['worker_removed', 'worker_updated', 'models_updated', 'hive_updated']);
    expect(seen[0]).toMatchObject({ hive_id: 'a', worker_id: 'gone' });
  });

  it('stamps workers and models with the hive whose stream they came on, whatever they claim', () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'real' }));
    view.applyHiveEvent('real', ev({ type: 'worker_updated', worker: worker({ id: 'w1', hive: 'spoofed' }) }, 1));
    view.applyHiveEvent('real', ev({ type: 'models_updated', hive_id: 'spoofed', models: [model({ hive: 'spoofed' })] }, 2));
    expect(view.worker('spoofed', 'w1')).toBeUndefined();
    expect(view.worker('real', 'w1')?.hive).toBe('real');
    expect(view.allModels().map((m) => m.hive)).toEqual(['real']);
  });

  it("takes a hive's facts about itself (devices, version) but keeps the queen's own state and stamps last_seen with now", () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'local', state: 'unreachable', message: 'tunnel down', last_seen: 5 }));
    vi.advanceTimersByTime(1_234);
    view.applyHiveEvent('local', ev({ type: 'hive_updated', hive: hive({ id: 'local', state: 'online', message: null, version: '9.9.9', devices: [] }) }, 1));
    expect(view.hive('local')).toMatchObject({ state: 'unreachable', message: 'tunnel down', version: '9.9.9', devices: [], last_seen: T0 + 1_234 });
  });

  it('ignores a hive_updated for a hive the queen does not know', () => {
    const view = new ClusterView();
    const seen = recording(view);
    view.applyHiveEvent('stranger', ev({ type: 'hive_updated', hive: hive({ id: 'stranger' }) }, 1));
    expect(view.hive('stranger')).toBeUndefined();
    expect(seen).toEqual([]);
  });

  it("never takes the queen's own business from a hive's stream (hive removal, audit health, specs)", () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'local' }));
    const seen = recording(view);
    view.applyHiveEvent('local', ev({ type: 'hive_removed', hive_id: 'local' }, 1));
    view.applyHiveEvent('local', ev({ type: 'audit_health', audit_degraded: null }, 2));
    expect(view.hive('local')).toBeDefined();
    expect(seen).toEqual([]);
  });

  it('worker_removed removes and re-emits only a worker it had', () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'local' }));
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: worker({ id: 'w1' }) }, 1));
    const seen = recording(view);
    view.applyHiveEvent('local', ev({ type: 'worker_removed', hive_id: 'local', worker_id: 'w1' }, 2));
    view.applyHiveEvent('local', ev({ type: 'worker_removed', hive_id: 'local', worker_id: 'w1' }, 3));
    expect(view.allWorkers()).toEqual([]);
    expect(seen.map((e) => e.type)).toEqual(['worker_removed']);
  });

  it('progress events are tagged with the hive they came from', () => {
    const view = new ClusterView();
    const seen = recording(view);
    view.applyHiveEvent(
      'b',
      ev({ type: 'download_progress', progress: { hive_id: 'x', download_id: 'd1', source: 'url', received_bytes: 1, total_bytes: 2, state: 'running', message: null } }, 1),
    );
    view.applyHiveEvent('b', ev({ type: 'shutdown_progress', progress: { hive_id: 'x', phase: 'sigterm', remaining_workers: 1 } }, 2));
    expect(seen).toMatchObject([{ progress: { hive_id: 'b' } }, { progress: { hive_id: 'b' } }]);
  });

  it('removeHive drops its workers (each announced), its models and itself', () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'a' }));
    view.upsertHive(hive({ id: 'b' }));
    view.applyHiveEvent('a', ev({ type: 'worker_updated', worker: worker({ id: 'w1' }) }, 1));
    view.applyHiveEvent('b', ev({ type: 'worker_updated', worker: worker({ id: 'w1' }) }, 1));
    view.applyHiveEvent('a', ev({ type: 'models_updated', hive_id: 'a', models: [model()] }, 2));
    const seen = recording(view);
    view.removeHive('a');
    expect(seen.map((e) => e.type)).toEqual(['worker_removed', 'hive_removed']);
    expect(view.snapshot()).toMatchObject({ hives: [{ id: 'b' }], workers: [{ hive: 'b', id: 'w1' }], models: [] });
  });

  it('patchHive changes a known hive and announces it; an unknown one stays unknown', () => {
    const view = new ClusterView();
    view.upsertHive(hive({ id: 'local' }));
    const seen = recording(view);
    expect(view.patchHive('local', { state: 'unreachable' })?.state).toBe('unreachable');
    expect(view.patchHive('nobody', { state: 'online' })).toBeUndefined();
    expect(seen.map((e) => e.type)).toEqual(['hive_updated']);
  });
});
