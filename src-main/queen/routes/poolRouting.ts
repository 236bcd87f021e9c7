import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClusterView } from '../cluster/ClusterView.js';
import { mayTryElsewhere } from '../inference/tryElsewhere.js';
import type { PoolForwarder, PoolRoute } from '../pools/PoolForwarder.js';
import type { PoolRegistry } from '../pools/PoolRegistry.js';

/** External engines behind the queen (docs/pools.md): a model id can resolve to a pool instead of a worker. */
export interface PoolRouting {
  registry: PoolRegistry;
  forwarder: PoolForwarder;
}

/** Serves one request: along its route plan when pools exist, else through the hives alone. */
export type Routed = (route: PoolRoute, request: FastifyRequest, reply: FastifyReply, viaHives: () => Promise<void>) => Promise<void>;

/**
 * The one routing hook for pools. A model id's plan (PoolRegistry.plan) names the hives, the pools,
 * or the hives then fallback pools; a request moves on to the next target only while no byte of an
 * answer has left (mayTryElsewhere). A pool gets the client's body as sent (tools and other fields
 * the engine supports pass through; the engine validates them); the hives parse it with their schema.
 */
export function createRouter(view: ClusterView, pools: PoolRouting | undefined): Routed {
  const servedByHives = (model: string): boolean => view.allModels().some((m) => m.name === model) || view.allWorkers().some((w) => w.model === model);
  return async (route, request, reply, viaHives) => {
    const raw = request.body;
    if (!pools || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return viaHives();
    const model = (raw as { model?: unknown }).model;
    if (typeof model !== 'string' || model.length === 0 || model.length > 256) return viaHives();
    const plan = pools.registry.plan(model, servedByHives);
    if (plan.pools.length === 0) return viaHives();
    if (plan.hives) {
      try {
        return await viaHives();
      } catch (error) {
        if (!mayTryElsewhere(error, reply)) throw error;
        request.log.info({ model, error: (error as Error).message, next: plan.pools[0]?.pool.name }, 'the hives could not serve; trying the fallback pools');
      }
    }
    await pools.forwarder.forwardFirst(plan.pools, route, raw as Record<string, unknown>, request, reply);
  };
}
