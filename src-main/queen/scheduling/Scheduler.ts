import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { workerKey, type ClusterView } from '../cluster/ClusterView.js';

/** A reserved slot on one worker; `release()` exactly once when the request is done with it. */
export interface Lease {
  worker: WorkerInfo;
  key: string;
  release(): void;
}

export interface SchedulerOptions {
  /** Requests allowed to wait for a slot. Defaults to 256. */
  queueLimit?: number;
  /** Asked when a model has no worker at all but a hive has it in its catalog (on-demand start). */
  startOnDemand?: (model: string) => Promise<boolean>;
}

interface Waiter {
  model: string;
  exclude: ReadonlySet<string>;
  resolve: (lease: Lease) => void;
  reject: (error: Error) => void;
}

/** States from which a worker may serve soon: worth waiting for within the deadline. */
const MAY_SERVE_SOON = new Set<WorkerInfo['state']>(['loading', 'idle', 'busy', 'crashed', 'backoff', 'unhealthy']);

/**
 * Picks a worker per request: a ready worker of the model, on a reachable hive, with a closed (or
 * half-open) breaker and a free slot — least in-flight first. With none free the request waits in
 * a bounded FIFO queue until a slot frees, a worker becomes ready, or its deadline passes (504).
 */
export class Scheduler {
  private readonly inFlight = new Map<string, number>();
  private readonly queue: Waiter[] = [];
  private readonly queueLimit: number;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly view: ClusterView,
    private readonly options: SchedulerOptions = {},
  ) {
    this.queueLimit = options.queueLimit ?? 256;
    this.unsubscribe = view.onChange((event) => {
      if (event.type === 'worker_updated' || event.type === 'hive_updated' || event.type === 'snapshot') this.drainQueue();
    });
  }

  get queueLength(): number {
    return this.queue.length;
  }

  inFlightOf(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }

  dispose(): void {
    this.unsubscribe();
    for (const waiter of this.queue.splice(0)) waiter.reject(new ApiError(503, 'SHUTTING_DOWN', 'The queen is shutting down'));
  }

  /**
   * Reserves a slot for `model`, waiting while that can succeed before `deadline`.
   * `exclude` skips workers that already failed this request (retry before the first token).
   */
  async acquire(model: string, deadline: Deadline, options: { exclude?: ReadonlySet<string>; signal?: AbortSignal } = {}): Promise<Lease> {
    const exclude = options.exclude ?? new Set<string>();
    const immediate = this.pick(model, exclude);
    if (immediate) return immediate;

    if (!this.couldServe(model, exclude)) {
      const inCatalog = this.view.allModels().some((m) => m.name === model);
      if (!inCatalog && !this.view.allWorkers().some((w) => w.model === model)) {
        throw new ApiError(404, 'MODEL_NOT_FOUND', `No hive serves or has the model '${model}'`);
      }
      const started = inCatalog && this.options.startOnDemand ? await this.options.startOnDemand(model) : false;
      if (!started && !this.couldServe(model, exclude)) {
        throw new ApiError(503, 'MODEL_NOT_READY', `No worker can serve '${model}' now`, undefined, { 'retry-after': '5' });
      }
    }
    if (this.queue.length >= this.queueLimit) {
      throw new ApiError(503, 'QUEUE_FULL', `The request queue is full (${this.queueLimit})`, undefined, { 'retry-after': '1' });
    }
    return new Promise<Lease>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new ApiError(504, 'DEADLINE_EXCEEDED', `No slot for '${model}' became free before the deadline`)),
        deadline.remainingMs(),
      );
      const onAbort = (): void => fail(new ApiError(499, 'INVALID_REQUEST', 'Client went away while queued'));
      const waiter: Waiter = {
        model,
        exclude,
        resolve: (lease) => {
          cleanup();
          resolve(lease);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const at = this.queue.indexOf(waiter);
        if (at !== -1) this.queue.splice(at, 1);
      };
      function fail(error: Error): void {
        waiter.reject(error);
      }
      options.signal?.addEventListener('abort', onAbort);
      this.queue.push(waiter);
    });
  }

  private candidates(model: string, exclude: ReadonlySet<string>): WorkerInfo[] {
    return this.view.allWorkers().filter((w) => {
      if (w.model !== model || exclude.has(workerKey(w.hive, w.id))) return false;
      if (this.view.hive(w.hive)?.state !== 'online') return false;
      return w.breaker.state !== 'open';
    });
  }

  private pick(model: string, exclude: ReadonlySet<string>): Lease | undefined {
    let best: { worker: WorkerInfo; key: string; load: number } | undefined;
    for (const worker of this.candidates(model, exclude)) {
      if (worker.state !== 'idle' && worker.state !== 'busy') continue;
      const key = workerKey(worker.hive, worker.id);
      const load = this.inFlightOf(key);
      if (load >= worker.slots.total) continue;
      if (!best || load < best.load) best = { worker, key, load };
    }
    if (!best) return undefined;
    const { worker, key } = best;
    this.inFlight.set(key, this.inFlightOf(key) + 1);
    let released = false;
    return {
      worker,
      key,
      release: () => {
        if (released) return;
        released = true;
        const left = this.inFlightOf(key) - 1;
        if (left <= 0) this.inFlight.delete(key);
        else this.inFlight.set(key, left);
        this.drainQueue();
      },
    };
  }

  private couldServe(model: string, exclude: ReadonlySet<string>): boolean {
    return this.candidates(model, exclude).some((w) => MAY_SERVE_SOON.has(w.state));
  }

  private drainQueue(): void {
    for (let i = 0; i < this.queue.length; ) {
      const waiter = this.queue[i]!;
      const lease = this.pick(waiter.model, waiter.exclude);
      if (!lease) {
        if (!this.couldServe(waiter.model, waiter.exclude) && !this.view.allModels().some((m) => m.name === waiter.model)) {
          waiter.reject(new ApiError(503, 'MODEL_NOT_READY', `No worker can serve '${waiter.model}' any more`, undefined, { 'retry-after': '5' }));
          continue; // reject() removed it from the queue
        }
        i++;
        continue;
      }
      waiter.resolve(lease); // removes itself from the queue
    }
  }
}
