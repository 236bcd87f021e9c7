import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, type Netns } from '../helpers/netns.js';
import { FrontQueen, UPSTREAM_MODEL, UpstreamQueen } from './poolHarness.js';
import { waitFor } from '../helpers/waitFor.js';

/**
 * A real network partition between the queen and a pool: the engine (a second rbee queen) runs in a
 * network namespace this test creates, reached over a veth pair. Link down → the pool's checks fail,
 * its breaker opens and clients get 503 from the breaker itself; link up → half-open trial, closed,
 * served again. Without root or netns support the helper throws and this test fails with the reason.
 */
let netns: Netns;
let upstream: UpstreamQueen;
const front = new FrontQueen();

beforeAll(async () => {
  netns = createNetns('rbee-pool');
  upstream = new UpstreamQueen({ netns });
  await Promise.all([upstream.start(), front.start()]);
}, 300_000);

afterAll(async () => {
  await front.dispose();
  await upstream?.dispose();
  netns?.dispose();
}, 60_000);

describe('pools: a network partition (netns + veth)', () => {
  it('link down → checks fail, breaker open, 503 from the breaker; link up → half-open trial, closed, served', async () => {
    const added = await front.addPool({
      name: 'far',
      base_url: `${upstream.url}/v1`,
      api_key: upstream.token,
      models: [UPSTREAM_MODEL],
      health_period_ms: 300,
      connect_timeout_ms: 1_000,
      first_byte_timeout_ms: 5_000,
      breaker_failures: 2,
      breaker_cooldown_ms: 2_000,
    });
    expect(added.status).toBe(201);
    await waitFor(() => front.pool('far'), (p) => p?.health === 'online', { timeoutMs: 60_000, what: 'pool online', retryErrors: true });
    expect((await front.chat(`far/${UPSTREAM_MODEL}`)).status).toBe(200);

    netns.partition();
    try {
      await waitFor(() => front.pool('far'), (p) => p?.breaker.state === 'open', { timeoutMs: 60_000, what: 'breaker open after the partition', retryErrors: true });
      expect((await front.pool('far'))?.health).toBe('unreachable');
      const rejected = (): Promise<number> => front.metric('rbee_pool_requests_total', { pool: 'far', outcome: 'rejected' });
      const before = await rejected();
      const refused = await front.chat(`far/${UPSTREAM_MODEL}`);
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await rejected()).toBe(before + 1);
    } finally {
      netns.heal();
    }

    await waitFor(() => front.pool('far'), (p) => p?.breaker.state === 'closed' && p.health === 'online', { timeoutMs: 90_000, what: 'breaker closed after the heal', retryErrors: true });
    const served = await front.chat(`far/${UPSTREAM_MODEL}`);
    expect(served.status, await served.clone().text()).toBe(200);
    expect(served.headers.get('x-rbee-pool')).toBe('far');
  }, 240_000);
});
