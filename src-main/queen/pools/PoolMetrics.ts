import { Counter, Gauge, Histogram, type Registry } from '../../common/metrics/promClient.js';
import type { Pool } from './Pool.js';

const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

/** Per-pool Prometheus metrics on the queen's registry. Labels carry pool names, never keys or URLs' secrets. */
export class PoolMetrics {
  readonly requests: Counter<'pool' | 'outcome'>;
  readonly ttft: Histogram<'pool'>;
  readonly tokens: Counter<'pool' | 'kind'>;

  constructor(registry: Registry, pools: () => Iterable<Pool>) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'rbee_pool_requests_total',
      help: 'Requests forwarded to pools, by outcome (ok, upstream_error, deadline, client_gone, rejected)',
      labelNames: ['pool', 'outcome'],
      registers,
    });
    this.ttft = new Histogram({
      name: 'rbee_pool_ttft_seconds',
      help: 'Time from the pool call to its first stream event (or its whole JSON answer)',
      labelNames: ['pool'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.tokens = new Counter({ name: 'rbee_pool_tokens_total', help: 'Tokens the pools reported in usage, by kind (prompt, completion)', labelNames: ['pool', 'kind'], registers });
    new Gauge({
      name: 'rbee_pool_breaker_state',
      help: 'Breaker per pool: 0 closed, 1 half-open, 2 open',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        for (const pool of pools()) this.set({ pool: pool.name }, BREAKER_VALUE[pool.breaker.info().state]);
      },
    });
    new Gauge({
      name: 'rbee_pool_in_flight',
      help: 'Requests in flight per pool',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        for (const pool of pools()) this.set({ pool: pool.name }, pool.gate.inFlight);
      },
    });
    new Gauge({
      name: 'rbee_pool_queued',
      help: 'Requests waiting for a place at each pool (max_concurrent reached)',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        for (const pool of pools()) this.set({ pool: pool.name }, pool.gate.queued);
      },
    });
  }

  observe(pool: string, result: { ttftMs: number | null; usage: unknown }): void {
    if (result.ttftMs !== null) this.ttft.observe({ pool }, result.ttftMs / 1000);
    const usage = result.usage as { prompt_tokens?: unknown; completion_tokens?: unknown } | undefined;
    if (typeof usage?.prompt_tokens === 'number' && usage.prompt_tokens >= 0) this.tokens.inc({ pool, kind: 'prompt' }, usage.prompt_tokens);
    if (typeof usage?.completion_tokens === 'number' && usage.completion_tokens >= 0) this.tokens.inc({ pool, kind: 'completion' }, usage.completion_tokens);
  }
}
