import { access, constants } from 'node:fs/promises';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { AddPoolSchema, type PoolInfo, type PoolRecord, type PoolTestResult } from '../../../src-shared/control/poolSchemas.js';
import type { PolicyTransition } from '../../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../../common/log/createLogger.js';
import { parseBody } from '../../common/http/parseBody.js';
import { KEY_LOST, Pool, type PoolEvents } from './Pool.js';
import type { PoolTarget } from './PoolForwarder.js';
import { FilePoolKeyStore, type PoolKeyStore, type StoredPoolKey } from './PoolKeyStore.js';
import { PoolStore } from './PoolStore.js';

/**
 * The targets of one model id, in the order they are tried: the hives (when `hives`), then each pool.
 * A target is left for the next only before the first byte of an answer (see `mayTryElsewhere`).
 */
export interface RoutePlan {
  hives: boolean;
  pools: PoolTarget[];
}

const BREAKER_EVENT = {
  breaker_opened: 'breaker_opened',
  breaker_half_open: 'breaker_half_open',
  breaker_closed: 'breaker_closed',
} as const;

/**
 * The queen's pools: add/remove (persisted; keys in the key store), health checks, breaker resets, and model
 * resolution. Resolution is deliberately narrow: given a model id it answers a pool target or
 * nothing, and the OpenAI routes send a target to the forwarder instead of the scheduler.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, Pool>();
  private readonly store: PoolStore;
  private readonly events: PoolEvents;
  private changes = Promise.resolve();

  /** `keys`: where pool keys are kept; defaults to 0600 files in `<dataDir>/pool-keys`. */
  constructor(private readonly deps: { dataDir: string; audit: AuditSink; logger: Logger; keys?: PoolKeyStore; onChange?: () => void }) {
    this.store = new PoolStore(deps.dataDir, deps.keys ?? new FilePoolKeyStore(deps.dataDir));
    this.events = {
      onBreaker: (pool, transition) => this.onBreaker(pool, transition),
      onHealth: (pool, from, to, error) => {
        deps.logger.info({ pool, from, to, error }, `pool ${pool} is ${to}`);
        void deps.audit.emit({ event_type: 'pool_state_changed', actor: 'system', reason: error ?? undefined, details: { pool, from, to } }).catch(() => undefined);
        deps.onChange?.();
      },
    };
  }

  /** Loads the remembered pools and starts their health checks. */
  async start(): Promise<void> {
    for (const { record, key } of await this.store.load()) {
      if (key?.storage === 'lost') this.deps.logger.warn({ pool: record.name, key: key.fingerprint ?? null }, `pool ${record.name}: ${KEY_LOST}`);
      this.install(record, key);
    }
  }

  all(): Iterable<Pool> {
    return this.pools.values();
  }

  /** Keys of every pool, for the audit writer's and the logger's redaction. */
  secrets(): string[] {
    return [...this.pools.values()].flatMap((p) => (p.secret ? [p.secret] : []));
  }

  list(): PoolInfo[] {
    return [...this.pools.values()].map((p) => p.info());
  }

  async add(body: unknown, actor: string): Promise<{ pool: PoolInfo; status: 'added' | 'replaced' }> {
    const request = parseBody(AddPoolSchema, body);
    const { api_key, replace, ...record } = request;
    if (record.ca_file) {
      if (!record.base_url.startsWith('https:')) throw new ApiError(400, 'INVALID_REQUEST', 'ca_file is only for https:// pools');
      await access(record.ca_file, constants.R_OK).catch(() => {
        throw new ApiError(400, 'INVALID_REQUEST', `ca_file ${record.ca_file} cannot be read by the queen`);
      });
    }
    return this.serialize(async () => {
      const existing = this.pools.get(record.name);
      if (existing && replace !== true) throw new ApiError(409, 'CONFLICT', `A pool named ${record.name} exists (remove it first, or replace it)`);
      existing?.dispose();
      const key = api_key?.trim() || undefined;
      const storage = await this.store.keys.write(record.name, key);
      const pool = this.install(record, key === undefined || storage === undefined ? undefined : { key, storage });
      await this.persist();
      void this.deps.audit
        .emit({
          event_type: 'pool_added',
          actor,
          details: { pool: record.name, base_url: record.base_url, key: pool.keyFingerprint, key_storage: storage ?? null, replaced: existing !== undefined, max_concurrent: record.max_concurrent },
        })
        .catch(() => undefined);
      this.deps.logger.info({ pool: record.name, base_url: record.base_url, key: pool.keyFingerprint, key_storage: storage ?? null }, 'pool added');
      return { pool: pool.info(), status: existing ? ('replaced' as const) : ('added' as const) };
    });
  }

  async remove(name: string, actor: string): Promise<void> {
    await this.serialize(async () => {
      const pool = this.require(name);
      this.pools.delete(name);
      pool.dispose();
      await this.store.keys.write(name, undefined);
      await this.persist();
      void this.deps.audit.emit({ event_type: 'pool_removed', actor, details: { pool: name } }).catch(() => undefined);
      this.deps.onChange?.();
    });
  }

  test(name: string): Promise<PoolTestResult> {
    return this.require(name).check();
  }

  resetBreaker(name: string, actor: string): PoolInfo {
    const pool = this.require(name);
    pool.breaker.reset();
    void this.deps.audit.emit({ event_type: 'breaker_reset', actor, details: { pool: name } }).catch(() => undefined);
    return pool.info();
  }

  /**
   * Where a model id goes, in order (docs/pools.md, "Routing"):
   * - `pool/model` names one pool and only that pool;
   * - a bare name the hives serve goes to the hives first, then to the fallback pools that expose it;
   * - a bare name no hive serves goes to the one pool that exposes it; several are ambiguous (400)
   *   unless every one of them is a fallback pool, which are then tried in the order they were added.
   */
  plan(model: string, servedByHives: (model: string) => boolean): RoutePlan {
    const slash = model.indexOf('/');
    if (slash > 0) {
      const pool = this.pools.get(model.slice(0, slash));
      if (pool) return { hives: false, pools: [this.direct(pool, model.slice(slash + 1))] };
    }
    const exposing = [...this.pools.values()].flatMap((pool) => {
      const upstream = pool.upstreamModel(model);
      return upstream === undefined ? [] : [{ pool, upstreamModel: upstream }];
    });
    if (servedByHives(model)) return { hives: true, pools: exposing.filter((t) => t.pool.record.fallback === true) };
    if (exposing.length > 1 && !exposing.every((t) => t.pool.record.fallback === true)) {
      throw new ApiError(400, 'INVALID_REQUEST', `Model '${model}' is served by several pools; name one: ${exposing.map((m) => `${m.pool.name}/${model}`).join(', ')}`);
    }
    return { hives: exposing.length === 0, pools: exposing };
  }

  /** `pool/id`: the engine's name for `id`, or 404 when the pool filters its models and `id` is not one. */
  private direct(pool: Pool, id: string): PoolTarget {
    const upstream = pool.upstreamModel(id);
    if (upstream !== undefined) return { pool, upstreamModel: upstream };
    // The engine's list may lag (first health check pending): an unfiltered pool takes any name.
    if (pool.record.models && pool.record.models.length > 0) {
      throw new ApiError(404, 'MODEL_NOT_FOUND', `Pool ${pool.name} does not expose '${id}' (it exposes: ${pool.models().map((m) => m.id).join(', ') || 'nothing'})`);
    }
    return { pool, upstreamModel: id };
  }

  /** `/v1/models` entries: `pool/model`, owned by `pool:NAME`. */
  models(): Array<{ id: string; pool: string }> {
    return [...this.pools.values()].flatMap((pool) => pool.models().map((m) => ({ id: `${pool.name}/${m.id}`, pool: pool.name })));
  }

  dispose(): void {
    for (const pool of this.pools.values()) pool.dispose();
    this.pools.clear();
  }

  private install(record: PoolRecord, key: StoredPoolKey | undefined): Pool {
    const pool = new Pool(record, key, this.events);
    this.pools.set(record.name, pool);
    pool.startHealthChecks();
    this.deps.onChange?.();
    return pool;
  }

  private require(name: string): Pool {
    const pool = this.pools.get(name);
    if (!pool) throw new ApiError(404, 'NOT_FOUND', `No pool named '${name}'`);
    return pool;
  }

  private async persist(): Promise<void> {
    await this.store.save([...this.pools.values()].map((p) => ({ record: p.record, keyFingerprint: p.keyFingerprint ?? undefined })));
  }

  /** Adds and removes run one at a time: the file and the map never disagree. */
  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.changes.then(task);
    this.changes = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private onBreaker(pool: string, transition: PolicyTransition): void {
    if (transition.type === 'attempts_reset') return;
    const details: Record<string, string | number> =
      transition.type === 'breaker_opened'
        ? { pool, failures: transition.failures, until: new Date(transition.until).toISOString() }
        : transition.type === 'breaker_closed'
          ? { pool, cause: transition.cause }
          : { pool };
    this.deps.logger.warn(details, `pool ${pool}: ${transition.type.replace('_', ' ')}`);
    void this.deps.audit.emit({ event_type: BREAKER_EVENT[transition.type], actor: 'system', details }).catch(() => undefined);
    this.deps.onChange?.();
  }
}
