import type { WorkerInfo, WorkerState } from '../../../src-shared/cluster/WorkerInfo.js';

/**
 * What the scheduler does with a request no worker can take right now (the on-demand rules):
 *  - `wait`: a worker of the model is loading or serving, or is expected back (backoff after it had
 *    served); the request queues within its deadline.
 *  - `start`: start the idle-TTL-stopped worker again (same id), or a declared spec's worker not
 *    started yet, or create the one on-demand (ephemeral) worker of this model on a hive that has it
 *    in its catalog and no worker or spec for it yet; then wait.
 *  - `unavailable`: the model's worker cannot load it (last load failed, `failed`, breaker open):
 *    503 MODEL_UNAVAILABLE at once, with the time until anything may change.
 *  - `stopped`: an operator stopped the model's worker, or its spec is disabled: 503 MODEL_STOPPED.
 *  - `not_ready`: no hive can serve the model now (e.g. its hive is offline): 503 MODEL_NOT_READY.
 *  - `not_found`: no hive has the model and no worker serves it: 404.
 */
export type Availability =
  | { kind: 'wait' }
  | { kind: 'start'; hive: string; workerId: string | null }
  | { kind: 'unavailable'; retryAfterMs: number; worker: string; reason: string }
  | { kind: 'stopped'; worker: string }
  | { kind: 'not_ready' }
  | { kind: 'not_found' };

export interface AvailabilityInput {
  model: string;
  workers: readonly WorkerInfo[];
  /** Hives whose catalog lists the model. */
  catalogHives: readonly string[];
  hiveOnline(hive: string): boolean;
  /** Declared specs (hive, id, model, enabled): a disabled one stops its model, an unstarted one is started. */
  specs?: readonly DeclaredSpec[];
  /** Lease identities (see `attemptKey`) that already failed this request. */
  exclude: ReadonlySet<string>;
  now: number;
}

export interface DeclaredSpec {
  hive: string;
  id: string;
  model: string;
  enabled: boolean;
}

/** A worker that is `failed` waits for an operator: clients are told to come back after this long. */
export const FAILED_RETRY_AFTER_MS = 60_000;

/** States in which a worker that has loaded its model before will (again) serve soon. */
const EXPECTED_BACK = new Set<WorkerState>(['loading', 'idle', 'busy', 'unhealthy', 'crashed', 'backoff', 'stopping']);

/**
 * One process of one worker: a request that failed on it is not sent there again, but the same
 * worker restarted (a new pid) may take it.
 */
export function attemptKey(worker: Pick<WorkerInfo, 'hive' | 'id' | 'pid'>): string {
  return `${worker.hive}/${worker.id}#${worker.pid ?? '-'}`;
}

/** Whether the worker cannot load its model now: its last load failed, it gave up, or its breaker is open. */
export function cannotLoad(worker: WorkerInfo): boolean {
  return worker.load_failed || worker.state === 'failed' || worker.breaker.state === 'open';
}

/** The id of the one on-demand worker of `model` on a hive. */
export function onDemandWorkerId(model: string): string {
  const stem = model.replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 50) || 'model';
  return `ondemand-${stem}`;
}

export function assessAvailability(input: AvailabilityInput): Availability {
  const ofModel = input.workers.filter((w) => w.model === input.model);
  const online = ofModel.filter((w) => input.hiveOnline(w.hive));
  // A process that failed this request is usually dying: the view shows its crash a moment later and
  // the worker restarts with a new pid. Until then it still counts as expected back.
  if (online.some((w) => !cannotLoad(w) && EXPECTED_BACK.has(w.state))) return { kind: 'wait' };
  const live = online.filter((w) => !input.exclude.has(attemptKey(w)));

  const idleStopped = live.find((w) => w.state === 'stopped' && w.stopped_by === 'idle_ttl' && !cannotLoad(w));
  if (idleStopped) return { kind: 'start', hive: idleStopped.hive, workerId: idleStopped.id };

  const broken = live.filter(cannotLoad);
  if (broken.length > 0) {
    const soonest = Math.min(...broken.map((w) => nextChangeAt(w, input.now)));
    const first = broken[0]!;
    return { kind: 'unavailable', retryAfterMs: Math.max(0, soonest - input.now), worker: `${first.hive}/${first.id}`, reason: brokenReason(first) };
  }

  const operatorStopped = live.find((w) => w.state === 'stopped' && w.stopped_by !== 'shutdown');
  if (operatorStopped) return { kind: 'stopped', worker: `${operatorStopped.hive}/${operatorStopped.id}` };

  // Declared specs without a worker yet: an enabled one is started (its id), a disabled one is the
  // operator's stop.
  const specs = (input.specs ?? []).filter((s) => s.model === input.model && input.hiveOnline(s.hive));
  const unstarted = specs.filter((s) => !ofModel.some((w) => w.hive === s.hive && w.id === s.id));
  const declared = unstarted.find((s) => s.enabled);
  if (declared) return { kind: 'start', hive: declared.hive, workerId: declared.id };
  const disabled = unstarted.find((s) => !s.enabled);
  if (disabled) return { kind: 'stopped', worker: `${disabled.hive}/${disabled.id}` };

  // At most one on-demand worker per model and hive: a hive that has any worker or spec of the model gets none.
  const withWorker = new Set([...ofModel.map((w) => w.hive), ...specs.map((s) => s.hive)]);
  const hive = input.catalogHives.find((h) => input.hiveOnline(h) && !withWorker.has(h));
  if (hive) return { kind: 'start', hive, workerId: null };

  if (input.catalogHives.length > 0 || ofModel.length > 0) return { kind: 'not_ready' };
  return { kind: 'not_found' };
}

/** When a broken worker may change: the breaker's half-open, the next attempt, or an operator's hand. */
function nextChangeAt(worker: WorkerInfo, now: number): number {
  if (worker.breaker.state === 'open' && worker.breaker.opens_until !== null) return worker.breaker.opens_until;
  if (worker.state === 'failed') return now + FAILED_RETRY_AFTER_MS;
  if (worker.next_restart_at !== null) return worker.next_restart_at;
  // Crashed a moment ago, the restart decision not yet published; or a trial loading now.
  return now + 1_000;
}

function brokenReason(worker: WorkerInfo): string {
  if (worker.breaker.state === 'open') return 'its circuit breaker is open';
  if (worker.state === 'failed') return 'it failed and waits for an operator';
  return 'its last start failed to load the model';
}
