import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { WorkerSpec } from '../../../src-shared/control/controlSchemas.js';
import type { WorkerEntry } from '../../../src-shared/control/workerSpecTypes.js';
import type { SpawnWorkerBody } from '../../../src-shared/hive/hiveApi.js';
import type { Logger } from '../../common/log/createLogger.js';
import { workerKey, type ClusterView } from '../cluster/ClusterView.js';
import type { HiveClient } from '../hives/HiveClient.js';
import { onDemandWorkerId } from '../scheduling/modelAvailability.js';
import type { WorkerSpecStore } from './WorkerSpecStore.js';

export interface WorkerSpecsOptions {
  store: WorkerSpecStore;
  view: ClusterView;
  hiveClient: (hiveId: string) => HiveClient | undefined;
  logger: Logger;
  /** Idle TTL of an ephemeral (on-demand) spec. */
  onDemandIdleTtlMs: number;
}

/** How long a DELETE waits for the hive's `worker_removed` event to reach the view. */
const ENTRY_GONE_WAIT_MS = 10_000;

/** Worker states in which a process exists or is about to (a disabled spec's worker is stopped from these). */
const LIVE_STATES = new Set<WorkerInfo['state']>(['loading', 'idle', 'busy', 'unhealthy', 'crashed', 'backoff']);

/** The spec fields that shape the worker's process(es); a change to any of them replaces the worker. */
const LAUNCH_FIELDS = ['model', 'device', 'gpu_layers', 'batch_size', 'flash_attention', 'kv_cache_type', 'slots', 'threads', 'ctx', 'idle_ttl_ms', 'hot_spare'] as const;

export function launchFieldsDiffer(a: WorkerSpec, b: WorkerSpec): boolean {
  return LAUNCH_FIELDS.some((field) => a[field] !== b[field]);
}

/** What the hive is asked to start for a spec (its id becomes the worker's id). */
export function spawnBodyOf(spec: WorkerSpec): SpawnWorkerBody {
  const body: SpawnWorkerBody = { model: spec.model, id: spec.id };
  for (const field of ['idle_ttl_ms', 'device', 'gpu_layers', 'batch_size', 'flash_attention', 'kv_cache_type', 'slots', 'threads', 'ctx'] as const) {
    if (spec[field] !== undefined) Object.assign(body, { [field]: spec[field] });
  }
  if (spec.hot_spare) body.hot_spare = true;
  return body;
}

/**
 * The declared workers (desired state) and their reconciler, in the manner of a Kubernetes
 * Deployment: whenever a hive (re)connects, its catalog changes or one of its workers stops on its
 * idle TTL, every enabled spec of that hive gets its worker, with the spec's id; a disabled spec's
 * worker is stopped; a worker whose model no longer matches its spec is replaced. An idle-TTL-stopped
 * worker satisfies its spec: the next request starts it again (same id). Ephemeral specs (one per
 * model and hive, made for a request) live in memory only and are started on demand, never here.
 */
export class WorkerSpecs {
  private readonly specs = new Map<string, WorkerSpec>();
  /** Serialises reconciles per hive; `again` asks for one more pass after the running one. */
  private readonly passes = new Map<string, { running: Promise<void>; again: boolean }>();
  /** Spawns in flight (a second trigger must not send a second spawn for the same id). */
  private readonly spawning = new Map<string, Promise<WorkerInfo | null>>();
  private saving: Promise<void> = Promise.resolve();
  private off: (() => void) | undefined;
  private disposed = false;

  private constructor(private readonly options: WorkerSpecsOptions) {}

  static async open(options: WorkerSpecsOptions): Promise<WorkerSpecs> {
    const specs = new WorkerSpecs(options);
    for (const spec of await options.store.load()) specs.specs.set(workerKey(spec.hive, spec.id), spec);
    options.view.provideSpecs(() => specs.list());
    return specs;
  }

  /** Starts watching the cluster view: each trigger reconciles the hive it concerns. */
  start(): void {
    const { view } = this.options;
    const online = new Set<string>();
    this.off = view.onChange((event) => {
      if (event.type === 'hive_updated') {
        const isOnline = event.hive.state === 'online';
        if (isOnline && !online.has(event.hive.id)) this.reconcileSoon(event.hive.id);
        if (isOnline) online.add(event.hive.id);
        else online.delete(event.hive.id);
      } else if (event.type === 'models_updated') {
        this.reconcileSoon(event.hive_id);
      } else if (event.type === 'worker_updated' && event.worker.state === 'stopped' && event.worker.stopped_by === 'idle_ttl') {
        this.reconcileSoon(event.worker.hive);
      }
    });
    for (const hive of view.snapshot().hives) if (hive.state === 'online') this.reconcileSoon(hive.id);
  }

  dispose(): void {
    this.disposed = true;
    this.off?.();
  }

  get(hive: string, id: string): WorkerSpec | undefined {
    return this.specs.get(workerKey(hive, id));
  }

  list(): WorkerSpec[] {
    return [...this.specs.values()];
  }

  /** Specs joined with the view's workers, plus the workers no spec declares. */
  entries(): WorkerEntry[] {
    const { view } = this.options;
    const rows: WorkerEntry[] = this.list().map((spec) => ({ hive: spec.hive, id: spec.id, spec, worker: view.worker(spec.hive, spec.id) ?? null }));
    for (const worker of view.allWorkers()) {
      if (!this.specs.has(workerKey(worker.hive, worker.id))) rows.push({ hive: worker.hive, id: worker.id, spec: null, worker });
    }
    return rows.sort((a, b) => a.hive.localeCompare(b.hive) || a.id.localeCompare(b.id));
  }

  entry(hive: string, id: string): WorkerEntry | undefined {
    const spec = this.get(hive, id) ?? null;
    const worker = this.options.view.worker(hive, id) ?? null;
    return spec || worker ? { hive, id, spec, worker } : undefined;
  }

  /** A free id for a new spec of `model` on `hive`: `w-<model stem>-N`, clear of specs and workers. */
  freeId(hive: string, model: string): string {
    const stem = model.replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'worker';
    for (let n = 1; ; n++) {
      const id = `w-${stem}-${n}`;
      if (!this.entry(hive, id)) return id;
    }
  }

  /**
   * Declares `spec` and, when enabled and its hive online, starts its worker. A spawn the hive refuses
   * undoes the declaration (so a bad model is a clear error, not a spec that can never run).
   */
  async create(spec: WorkerSpec): Promise<WorkerInfo | null> {
    if (this.entry(spec.hive, spec.id)) throw new ApiError(409, 'CONFLICT', `Worker '${spec.id}' already exists on hive '${spec.hive}'`);
    await this.put(spec);
    if (!spec.enabled || !this.isOnline(spec.hive)) return null;
    try {
      return await this.spawn(spec);
    } catch (error) {
      await this.drop(spec.hive, spec.id);
      throw error;
    }
  }

  /** Replaces a spec: a launch-field change replaces its worker, an `enabled` change starts or stops it. */
  async replace(next: WorkerSpec): Promise<void> {
    const before = this.get(next.hive, next.id);
    const worker = this.options.view.worker(next.hive, next.id);
    const client = this.onlineClient(next.hive);
    if (client && next.model !== (before?.model ?? worker?.model) && !this.options.view.allModels().some((m) => m.hive === next.hive && m.name === next.model)) {
      throw new ApiError(404, 'MODEL_NOT_FOUND', `Hive '${next.hive}' has no model '${next.model}'`);
    }
    await this.put(next);
    if (!client) return;
    if (worker && (!before || launchFieldsDiffer(before, next) || worker.model !== next.model)) {
      this.options.logger.info({ hive: next.hive, worker_id: next.id, model: next.model }, 'spec changed: replacing its worker');
      await client.removeWorker(next.id);
      if (next.enabled) await this.spawn(next);
      return;
    }
    if (!worker && next.enabled) await this.spawn(next);
    else if (worker && !next.enabled && LIVE_STATES.has(worker.state)) await client.workerAction(next.id, 'stop');
    else if (worker && next.enabled && worker.state === 'stopped' && worker.stopped_by === 'operator') await client.workerAction(next.id, 'start');
  }

  /** Stops and forgets the worker (when there is one) and the spec. */
  async remove(hive: string, id: string): Promise<void> {
    const worker = this.options.view.worker(hive, id);
    if (!worker && !this.get(hive, id)) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker or spec '${id}' on hive '${hive}'`);
    if (worker) {
      const client = this.onlineClient(hive);
      if (!client) throw new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${hive}' is ${this.options.view.hive(hive)?.state ?? 'unknown'}`, undefined, { 'retry-after': '2' });
      // The spec goes first: a reconcile running meanwhile must not start the worker again.
      await this.drop(hive, id);
      await client.removeWorker(id);
      // The hive has forgotten it; answer once the view has too, so a read right after sees it gone.
      await this.untilGone(hive, id, ENTRY_GONE_WAIT_MS);
      return;
    }
    await this.drop(hive, id);
  }

  /** Records an operator's start (true) or stop (false) on the spec, if the worker has one. */
  async setEnabled(hive: string, id: string, enabled: boolean): Promise<WorkerSpec | undefined> {
    const spec = this.get(hive, id);
    if (!spec || spec.enabled === enabled) return spec;
    const next = { ...spec, enabled };
    await this.put(next);
    return next;
  }

  /**
   * A request's on-demand start (see modelAvailability): the idle-stopped or not-yet-started worker
   * `workerId` again, or (null) the one ephemeral spec of `model` on `hive`, made now.
   */
  async startForRequest(target: { hive: string; model: string; workerId: string | null }): Promise<void> {
    const client = this.options.hiveClient(target.hive);
    if (!client) throw new ApiError(503, 'MODEL_NOT_READY', `Hive ${target.hive} is not connected`, undefined, { 'retry-after': '5' });
    const { logger, view } = this.options;
    if (target.workerId !== null) {
      if (view.worker(target.hive, target.workerId)) {
        logger.info({ model: target.model, hive: target.hive, worker_id: target.workerId }, 'starting an idle-stopped worker on demand');
        await ignoreConflict(client.workerAction(target.workerId, 'start'));
        return;
      }
      const spec = this.get(target.hive, target.workerId);
      if (spec) await this.spawn(spec);
      return;
    }
    const spec: WorkerSpec = {
      id: onDemandWorkerId(target.model),
      hive: target.hive,
      model: target.model,
      idle_ttl_ms: this.options.onDemandIdleTtlMs,
      enabled: true,
      ephemeral: true,
      hot_spare: false,
    };
    logger.info({ model: target.model, hive: target.hive }, 'creating the on-demand worker');
    if (!this.get(spec.hive, spec.id)) await this.put(spec);
    await this.spawn(spec);
  }

  /** Reconciles `hive` now, or once more after the pass already running. */
  reconcileSoon(hive: string): void {
    if (this.disposed) return;
    const pass = this.passes.get(hive);
    if (pass) {
      pass.again = true;
      return;
    }
    const state = { running: Promise.resolve(), again: false };
    state.running = (async () => {
      do {
        state.again = false;
        await this.reconcile(hive).catch((error: unknown) => this.options.logger.warn({ err: error, hive }, 'reconciling worker specs failed'));
      } while (state.again && !this.disposed);
      this.passes.delete(hive);
    })();
    this.passes.set(hive, state);
  }

  /** Resolves when no reconcile pass is running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.passes.size > 0) await Promise.all([...this.passes.values()].map((p) => p.running));
  }

  private async reconcile(hive: string): Promise<void> {
    const client = this.onlineClient(hive);
    if (!client) return;
    const { view, logger } = this.options;
    for (const spec of this.list()) {
      if (spec.hive !== hive || spec.ephemeral || this.disposed) continue;
      const worker = view.worker(hive, spec.id);
      try {
        if (worker && worker.model !== spec.model) {
          logger.info({ hive, worker_id: spec.id, model: spec.model }, 'worker does not match its spec: replacing it');
          await client.removeWorker(spec.id);
          if (spec.enabled) await this.spawn(spec);
        } else if (!spec.enabled) {
          if (worker && LIVE_STATES.has(worker.state)) await client.workerAction(spec.id, 'stop');
        } else if (!worker) {
          await this.spawn(spec);
        } else if (worker.state === 'stopped' && worker.stopped_by === 'operator') {
          await ignoreConflict(client.workerAction(spec.id, 'start'));
        }
      } catch (error) {
        logger.warn({ err: error, hive, worker_id: spec.id }, 'could not bring a worker to its spec');
      }
    }
  }

  /** Starts the spec's worker; one spawn per id at a time, an existing worker (409) counts as done. */
  private spawn(spec: WorkerSpec): Promise<WorkerInfo | null> {
    const key = workerKey(spec.hive, spec.id);
    const pending = this.spawning.get(key);
    if (pending) return pending;
    const client = this.options.hiveClient(spec.hive);
    if (!client) return Promise.reject(new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${spec.hive}' is not connected`, undefined, { 'retry-after': '2' }));
    const attempt = client
      .spawnWorker(spawnBodyOf(spec))
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.code === 'CONFLICT') return null;
        throw error;
      })
      .finally(() => this.spawning.delete(key));
    this.spawning.set(key, attempt);
    return attempt;
  }

  /** Resolves when the view no longer holds the worker, or after `timeoutMs` (the hive's event may be late). */
  private untilGone(hive: string, id: string, timeoutMs: number): Promise<void> {
    const { view } = this.options;
    if (!view.worker(hive, id)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = view.onChange(() => {
        if (!view.worker(hive, id)) done();
      });
    });
  }

  private isOnline(hive: string): boolean {
    return this.options.view.hive(hive)?.state === 'online';
  }

  private onlineClient(hive: string): HiveClient | undefined {
    return this.isOnline(hive) ? this.options.hiveClient(hive) : undefined;
  }

  private async put(spec: WorkerSpec): Promise<void> {
    this.specs.set(workerKey(spec.hive, spec.id), spec);
    this.options.view.publish({ type: 'spec_updated', spec });
    if (!spec.ephemeral) await this.persist();
  }

  private async drop(hive: string, id: string): Promise<void> {
    const spec = this.get(hive, id);
    if (!spec) return;
    this.specs.delete(workerKey(hive, id));
    this.options.view.publish({ type: 'spec_removed', hive_id: hive, spec_id: id });
    if (!spec.ephemeral) await this.persist();
  }

  /** Saves are chained: each writes the whole current list, in order. */
  private persist(): Promise<void> {
    const save = this.saving.then(() => this.options.store.save(this.list().filter((s) => !s.ephemeral)));
    this.saving = save.catch(() => undefined);
    return save;
  }
}

async function ignoreConflict(action: Promise<void>): Promise<void> {
  try {
    await action;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'CONFLICT') return;
    throw error;
  }
}
