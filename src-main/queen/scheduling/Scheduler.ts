import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { workerKey, type ClusterView } from '../cluster/ClusterView.js';
import { DeadlineQueue, systemQueueClock, type QueueClock, type ServeDecision } from './DeadlineQueue.js';
import { assessAvailability, attemptKey, type Availability, type DeclaredSpec } from './modelAvailability.js';

/** A reserved slot on one worker; `release()` exactly once when the request is done with it. */
export interface Lease {
  worker: WorkerInfo;
  key: string;
  release(): void;
}

export interface SchedulerOptions {
  /** Requests allowed to wait for a slot. Defaults to 256. */
  queueLimit?: number;
  /**
   * Starts a worker for a request (see `assessAvailability`): the idle-TTL-stopped worker `workerId`
   * again, or (workerId null) the one on-demand worker of `model` on `hive`. Rejects with an ApiError
   * when the hive refuses; resolves once the hive accepted (the worker then loads).
   */
  startOnDemand?: (target: { hive: string; model: string; workerId: string | null }) => Promise<void>;
  /** The declared worker specs (see `assessAvailability`). */
  specs?: () => readonly DeclaredSpec[];
  /** Where "now" comes from (Retry-After arithmetic, deadlines in the queue). Defaults to the system clock. */
  clock?: QueueClock;
}

/** What a queued request waits for: a slot on a worker of `model`, not one of `exclude`. */
interface SlotRequest {
  model: string;
  exclude: ReadonlySet<string>;
}

/**
 * Picks a worker per request: a ready worker of the model, on a reachable hive, with a closed (or
 * half-open) breaker and a free slot — least in-flight first. With none free the request waits in
 * a bounded queue, earliest deadline first, until a slot frees or a worker becomes ready; it is
 * answered at once when its deadline passes or when the model turns out not to be servable (the
 * on-demand rules in modelAvailability.ts).
 */
export class Scheduler {
  private readonly inFlight = new Map<string, number>();
  private readonly queue: DeadlineQueue<SlotRequest, Lease>;
  private readonly unsubscribe: () => void;
  private readonly clock: QueueClock;
  /** On-demand starts in flight, by `hive/model`: concurrent requests share one. */
  private readonly starting = new Map<string, Promise<void>>();

  constructor(
    private readonly view: ClusterView,
    private readonly options: SchedulerOptions = {},
  ) {
    this.clock = options.clock ?? systemQueueClock;
    const queueLimit = options.queueLimit ?? 256;
    this.queue = new DeadlineQueue({
      limit: queueLimit,
      clock: this.clock,
      fullMessage: () => `The request queue is full (${queueLimit})`,
      expiredMessage: ({ model }) => `No slot for '${model}' became free before the deadline`,
    });
    this.unsubscribe = view.onChange((event) => {
      if (event.type === 'worker_updated' || event.type === 'worker_removed' || event.type === 'hive_updated' || event.type === 'snapshot' || event.type === 'models_updated') {
        this.drainQueue();
      }
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
    this.queue.close(new ApiError(503, 'SHUTTING_DOWN', 'The queen is shutting down'));
  }

  /**
   * Reserves a slot for `model`, waiting while that can succeed before `deadline`.
   * `exclude` skips worker processes (`attemptKey`) that already failed this request (retry before
   * the first token); the same worker restarted is eligible again.
   */
  async acquire(model: string, deadline: Deadline, options: { exclude?: ReadonlySet<string>; signal?: AbortSignal } = {}): Promise<Lease> {
    const exclude = options.exclude ?? new Set<string>();
    const immediate = this.pick(model, exclude);
    if (immediate) return immediate;

    const verdict = this.assess(model, exclude);
    if (verdict.kind === 'start') {
      await this.startFor(model, verdict);
      const now = this.pick(model, exclude);
      if (now) return now;
    } else if (verdict.kind !== 'wait') {
      throw refusal(model, verdict);
    }
    return this.queue.enqueue({ model, exclude }, deadline.at, options.signal);
  }

  private assess(model: string, exclude: ReadonlySet<string>): Availability {
    return assessAvailability({
      model,
      workers: this.view.allWorkers(),
      catalogHives: this.view.allModels().filter((m) => m.name === model).map((m) => m.hive),
      hiveOnline: (hive) => this.view.hive(hive)?.state === 'online',
      specs: this.options.specs?.(),
      exclude,
      now: this.clock.now(),
    });
  }

  /** One on-demand start per hive and model at a time; a refusal answers every request waiting for it. */
  private startFor(model: string, target: { hive: string; workerId: string | null }): Promise<void> {
    const start = this.options.startOnDemand;
    if (!start) return Promise.reject(new ApiError(503, 'MODEL_NOT_READY', `No worker serves '${model}' and on-demand start is off`, undefined, { 'retry-after': '5' }));
    const key = `${target.hive}/${model}`;
    const pending = this.starting.get(key);
    if (pending) return pending;
    const attempt = start({ hive: target.hive, model, workerId: target.workerId })
      .catch((error: unknown) => {
        const failure = error instanceof ApiError ? error : new ApiError(503, 'MODEL_NOT_READY', `Could not start a worker for '${model}': ${String(error)}`);
        this.queue.serve((waiting) => (waiting.model === model ? { kind: 'reject', error: failure } : { kind: 'keep' }));
        throw failure;
      })
      .finally(() => this.starting.delete(key));
    this.starting.set(key, attempt);
    return attempt;
  }

  private candidates(model: string, exclude: ReadonlySet<string>): WorkerInfo[] {
    return this.view.allWorkers().filter((w) => {
      if (w.model !== model || exclude.has(attemptKey(w))) return false;
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

  /** Offers free slots to the queue, earliest deadline first; refuses waiters whose model became unservable. */
  private drainQueue(): void {
    this.queue.serve(({ model, exclude }): ServeDecision<Lease> => {
      const lease = this.pick(model, exclude);
      if (lease) return { kind: 'grant', value: lease };
      const verdict = this.assess(model, exclude);
      if (verdict.kind === 'start') {
        this.startFor(model, verdict).catch(() => undefined); // a refusal rejects the waiters itself
      } else if (verdict.kind !== 'wait') {
        return { kind: 'reject', error: refusal(model, verdict) };
      }
      return { kind: 'keep' };
    });
  }
}

/** The error a request gets when its model cannot be served (see `Availability`). */
function refusal(model: string, verdict: Exclude<Availability, { kind: 'wait' } | { kind: 'start' }>): ApiError {
  switch (verdict.kind) {
    case 'unavailable':
      return new ApiError(
        503,
        'MODEL_UNAVAILABLE',
        `Model '${model}' is unavailable: ${verdict.reason} (worker ${verdict.worker})`,
        { worker: verdict.worker, retry_after_ms: verdict.retryAfterMs },
        { 'retry-after': String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))) },
      );
    case 'stopped':
      return new ApiError(503, 'MODEL_STOPPED', `Model '${model}' is stopped by an operator (worker ${verdict.worker}); start it to serve again`, { worker: verdict.worker });
    case 'not_ready':
      return new ApiError(503, 'MODEL_NOT_READY', `No worker can serve '${model}' now`, undefined, { 'retry-after': '5' });
    case 'not_found':
      return new ApiError(404, 'MODEL_NOT_FOUND', `No hive serves or has the model '${model}'`);
  }
}
