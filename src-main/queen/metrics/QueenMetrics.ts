import { Counter, Gauge, Histogram, Registry } from '../../common/metrics/promClient.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import type { Scheduler } from '../scheduling/Scheduler.js';

/** The queen's Prometheus metrics (`GET /metrics`). Cluster gauges are computed at scrape time. */
export class QueenMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'status'>;
  readonly ttft: Histogram<'route'>;
  readonly duration: Histogram<'route'>;
  readonly tokens: Counter<'model'>;
  readonly authFailures: Counter;
  readonly retries: Counter;

  /** `registry`: where to register (the queen creates it first, so its audit writer's metrics join it). */
  constructor(view: ClusterView, scheduler: Scheduler, registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [this.registry];
    this.requests = new Counter({ name: 'rbee_queen_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });
    this.ttft = new Histogram({
      name: 'rbee_queen_ttft_seconds',
      help: 'Time from request arrival to the first token',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.duration = new Histogram({
      name: 'rbee_queen_request_duration_seconds',
      help: 'Inference request duration',
      labelNames: ['route'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.tokens = new Counter({ name: 'rbee_queen_tokens_generated_total', help: 'Tokens generated through the queen', labelNames: ['model'], registers });
    this.authFailures = new Counter({ name: 'rbee_queen_auth_failures_total', help: 'Requests refused for a missing or wrong API key', registers });
    this.retries = new Counter({ name: 'rbee_queen_retries_total', help: 'Requests retried on another worker before their first token', registers });
    new Gauge({
      name: 'rbee_queen_queue_length',
      help: 'Requests waiting for a free slot',
      registers,
      collect() {
        this.set(scheduler.queueLength);
      },
    });
    new Gauge({
      name: 'rbee_workers',
      help: 'Workers by hive and state',
      labelNames: ['hive', 'state'],
      registers,
      collect() {
        this.reset();
        for (const w of view.allWorkers()) this.inc({ hive: w.hive, state: w.state });
      },
    });
    new Gauge({
      name: 'rbee_worker_restarts',
      help: 'Restarts of each worker (restart_count)',
      labelNames: ['hive', 'worker', 'model'],
      registers,
      collect() {
        this.reset();
        for (const w of view.allWorkers()) this.set({ hive: w.hive, worker: w.id, model: w.model }, w.restart_count);
      },
    });
    new Gauge({
      name: 'rbee_worker_breaker_open',
      help: 'Circuit breaker state per worker: 0 closed, 1 half-open, 2 open',
      labelNames: ['hive', 'worker'],
      registers,
      collect() {
        this.reset();
        const code = { closed: 0, half_open: 1, open: 2 } as const;
        for (const w of view.allWorkers()) this.set({ hive: w.hive, worker: w.id }, code[w.breaker.state]);
      },
    });
    new Gauge({
      name: 'rbee_hives',
      help: 'Hives by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const h of view.snapshot().hives) this.inc({ state: h.state });
      },
    });
  }
}
