// @vitest-environment jsdom
// The Cluster view's per-GPU bars from fake device reports (no GPU here).
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatchClusterEvent, useRbee } from '../../src-renderer/stores/store.js';
import { ClusterView } from '../../src-renderer/views/ClusterView.js';
import { ev, hive, worker } from './fixtures.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
const GiB = 1024 ** 3;
let container: HTMLDivElement;
let root: Root;
beforeEach(() => {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});
afterEach(() => {
  act(() => root.unmount());
  container.remove();
  useRbee.setState(useRbee.getInitialState(), true);
});

describe('Cluster view: workers stacked on per-GPU memory bars', () => {
  it('one segment per worker placed on the GPU, sized by its VRAM, with a text equivalent', () => {
    const devices = [
      { id: 'gpu0', type: 'cuda' as const, name: 'RTX 4090', memory_total: 24 * GiB, memory_free: 10 * GiB },
      { id: 'gpu1', type: 'cuda' as const, name: 'RTX 3090', memory_total: 24 * GiB, memory_free: 24 * GiB },
      { id: 'cpu', type: 'cpu' as const, name: 'CPU', memory_total: 64 * GiB, memory_free: 32 * GiB },
    ];
    const workers = [
      worker({ id: 'a', gpu: 'gpu0', vram_bytes: 8 * GiB, vram_measured_bytes: 6 * GiB, offload: { layers: 41, total: 41 } }),
      worker({ id: 'b', gpu: 'gpu0', vram_bytes: 4 * GiB, offload: { layers: 20, total: 41 } }),
      worker({ id: 'c', gpu: null, vram_bytes: 0 }),
    ];
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive({ devices })], workers, models: [] } }, 0)));
    act(() => root.render(<ClusterView />));
    const bar0 = container.querySelector('[data-device-id="gpu0"] [role="img"]')!;
    const segments = [...bar0.querySelectorAll<HTMLElement>('[data-worker-id]')];
    expect(segments.map((s) => s.dataset.workerId)).toEqual(['a', 'b']);
    // Measured figure wins over the estimate: a = 6 GiB of 24 = 25 %; b = 4 GiB (estimate) ≈ 16.67 %.
    expect(segments.map((s) => s.style.width)).toEqual(['25%', '16.67%']);
    expect(bar0.getAttribute('aria-label')).toMatch(/^VRAM on RTX 4090: a 6(\.0)? GiB b 4(\.0)? GiB other 4(\.0)? GiB free 10(\.0)? GiB of 24(\.0)? GiB$/);
    expect(container.querySelector('[data-device-id="gpu0"] .vram-legend')?.textContent).toContain('b: 4');
    expect(container.querySelector('[data-device-id="gpu0"] .vram-legend')?.textContent).toContain('(estimate), 20/41 layers');
    expect(container.querySelectorAll('[data-device-id="gpu1"] [data-worker-id]')).toHaveLength(0);
    expect(container.querySelector('meter[aria-label="RAM used on CPU"]')).not.toBeNull();
  });
});
