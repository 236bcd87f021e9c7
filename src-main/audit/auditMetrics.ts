import { Counter, Gauge, Histogram } from '../common/metrics/promClient.js';
import type { Registry } from '../common/metrics/promClient.js';

/** Why an event was refused: queue full, disk low, log closed, or a failed write (`io_error`). */
export type AuditRejectReason = 'queue_full' | 'low_disk' | 'closed' | 'io_error';

/** What the writer reports; `registerAuditMetrics` turns it into Prometheus metrics. */
export interface AuditMetrics {
  rejected(serviceId: string, reason: AuditRejectReason, count?: number): void;
  written(serviceId: string, count: number): void;
  synced(serviceId: string, seconds: number): void;
  queueDepth(serviceId: string, depth: number): void;
  /** The writer became degraded (`reason`) or healthy again (null). */
  degraded(serviceId: string, reason: 'low_disk' | 'io_error' | 'failed' | null): void;
}

export const NOOP_AUDIT_METRICS: AuditMetrics = {
  rejected: () => undefined,
  written: () => undefined,
  synced: () => undefined,
  queueDepth: () => undefined,
  degraded: () => undefined,
};

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/**
 * Registers the audit metrics on `registry` (once per registry; a second call reuses them) and returns
 * the hooks to pass as `createAuditSink({ metrics })`:
 * - `rbee_audit_rejected_total{service,reason}`: events refused (never silently dropped),
 * - `rbee_audit_written_total{service}`, `rbee_audit_queue_depth{service}`,
 * - `rbee_audit_fsync_seconds{service}`: group-commit fsync latency,
 * - `rbee_audit_degraded{service}` (1 while the writer cannot write) and
 *   `rbee_audit_degraded_total{service,reason}` (times it became degraded).
 */
export function registerAuditMetrics(registry: Registry): AuditMetrics {
  const rejected =
    existing<Counter<'service' | 'reason'>>(registry, 'rbee_audit_rejected_total') ??
    new Counter({
      name: 'rbee_audit_rejected_total',
      help: 'Audit events refused by the writer (queue full, low disk, closed, I/O error); the caller was told',
      labelNames: ['service', 'reason'] as const,
      registers: [registry],
    });
  const written =
    existing<Counter<'service'>>(registry, 'rbee_audit_written_total') ??
    new Counter({ name: 'rbee_audit_written_total', help: 'Audit records appended', labelNames: ['service'] as const, registers: [registry] });
  const depth =
    existing<Gauge<'service'>>(registry, 'rbee_audit_queue_depth') ??
    new Gauge({ name: 'rbee_audit_queue_depth', help: 'Audit events accepted but not yet written', labelNames: ['service'] as const, registers: [registry] });
  const fsync =
    existing<Histogram<'service'>>(registry, 'rbee_audit_fsync_seconds') ??
    new Histogram({
      name: 'rbee_audit_fsync_seconds',
      help: 'Latency of the audit log group-commit fsync',
      labelNames: ['service'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
  const degradedNow =
    existing<Gauge<'service'>>(registry, 'rbee_audit_degraded') ??
    new Gauge({ name: 'rbee_audit_degraded', help: 'Whether the audit writer cannot write now (low disk, failed write, failed log)', labelNames: ['service'] as const, registers: [registry] });
  const degradedTotal =
    existing<Counter<'service' | 'reason'>>(registry, 'rbee_audit_degraded_total') ??
    new Counter({ name: 'rbee_audit_degraded_total', help: 'Times the audit writer became degraded, by reason', labelNames: ['service', 'reason'] as const, registers: [registry] });
  return {
    degraded: (service, reason) => {
      degradedNow.set({ service }, reason === null ? 0 : 1);
      if (reason !== null) degradedTotal.inc({ service, reason });
    },
    rejected: (service, reason, count = 1) => rejected.inc({ service, reason }, count),
    written: (service, count) => written.inc({ service }, count),
    synced: (service, seconds) => fsync.observe({ service }, seconds),
    queueDepth: (service, n) => depth.set({ service }, n),
  };
}
