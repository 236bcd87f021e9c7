import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { DeadlineQueue, type QueueClock } from '../scheduling/DeadlineQueue.js';

/** Gives its place back; idempotent. */
export type Release = () => void;

/**
 * A pool's concurrency bound: at most `limit` requests in flight; more wait in the queen's queue
 * (`DeadlineQueue`: earliest deadline first, bounded, 503 QUEUE_FULL with Retry-After when full, 504
 * at the deadline, 499 when the client leaves), and a freed place goes to the earliest deadline.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly queue: DeadlineQueue<null, Release>;

  constructor(
    private readonly limit: number,
    queueLimit: number,
    private readonly label: string,
    clock?: QueueClock,
  ) {
    this.queue = new DeadlineQueue({
      limit: queueLimit,
      clock,
      fullMessage: (waiting) => `${label}: ${this.active} requests in flight and ${waiting} waiting`,
      expiredMessage: () => `The deadline passed while waiting for a free place at ${label}`,
    });
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a place is free; nobody overtakes the queue. */
  acquire(deadline: Deadline, signal: AbortSignal): Promise<Release> {
    if (this.active < this.limit && this.queue.length === 0) return Promise.resolve(this.take());
    return this.queue.enqueue(null, deadline.at, signal);
  }

  /** Answers every waiter (and every later request) with 503 SHUTTING_DOWN; places in flight finish. */
  close(): void {
    this.queue.close(new ApiError(503, 'SHUTTING_DOWN', `${this.label} was removed, replaced or is shutting down`));
  }

  private take(): Release {
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.queue.serve(() => (this.active < this.limit ? { kind: 'grant', value: this.take() } : { kind: 'keep' }));
    };
  }
}
