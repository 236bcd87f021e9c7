// @vitest-environment jsdom
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import { AuditDegradedBanner } from '../../src-renderer/components/ConnectionBanner.js';
import { initialClusterData, reduceCluster } from '../../src-renderer/stores/clusterSlice.js';
import { dispatchClusterEvent } from '../../src-renderer/stores/store.js';
import { ev, hive } from './fixtures.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const DEGRADED = { service_id: 'queen', reason: 'low_disk' as const, since: '2026-12-01T03:00:00.000Z', message: 'audit log refuses writes: 12.0 MiB free' };

describe('audit_degraded on the dashboard (docs/audit.md "Audit health")', () => {
  it('the snapshot and audit_health events set and clear it', () => {
    let s = reduceCluster(initialClusterData, ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [], models: [], audit_degraded: DEGRADED } }, 0), 10_000);
    expect(s.auditDegraded).toEqual(DEGRADED);
    s = reduceCluster(s, ev({ type: 'audit_health', audit_degraded: null }, 1), 10_000);
    expect(s.auditDegraded).toBeNull();
  });

  it('shows a banner while degraded', () => {
    const container = document.createElement('div');
    document.body.append(container);
    const root = createRoot(container);
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [], models: [] } }, 0)));
    act(() => root.render(<AuditDegradedBanner />));
    expect(container.querySelector('[data-testid="audit-degraded-banner"]')).toBeNull();
    act(() => dispatchClusterEvent(ev({ type: 'audit_health', audit_degraded: DEGRADED }, 1)));
    const banner = container.querySelector('[data-testid="audit-degraded-banner"]');
    expect(banner?.getAttribute('data-reason')).toBe('low_disk');
    expect(banner?.textContent).toContain('the disk is nearly full');
    act(() => root.unmount());
    container.remove();
  });
});
