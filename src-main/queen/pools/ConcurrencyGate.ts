import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { Deadline } from '../../../src-shared/deadline/Deadline.js';

interface Waiter {
  deadlineAt: number;
  grant: () => void;
}

/**
 * At most `limit` calls at once; more wait in a bounded queue, earliest deadline first, until their
 * deadline (504) — or are refused at once when the queue is full (503 QUEUE_FULL with Retry-After),
 * like the queen's worker queue.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private limit: number,
    private readonly queueLimit: number,
    private readonly label: string,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.drain();
  }

  /** Resolves with a release function (idempotent) once a place is free. */
  async acquire(deadline: Deadline, signal: AbortSignal): Promise<() => void> {
    if (this.active < this.limit && this.waiting.length === 0) return this.take();
    if (this.waiting.length >= this.queueLimit) {
      throw new ApiError(503, 'QUEUE_FULL', `${this.label}: ${this.active} requests in flight and ${this.waiting.length} waiting`, undefined, { 'retry-after': '1' });
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        deadlineAt: Date.now() + deadline.remainingMs(),
        grant: () => {
          cleanup();
          resolve(this.take());
        },
      };
      const remove = (): void => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
      };
      const onAbort = (): void => {
        cleanup();
        remove();
        reject(new ApiError(499 as number, 'INTERNAL', 'the client went away while waiting'));
      };
      const timer = setTimeout(() => {
        cleanup();
        remove();
        reject(new ApiError(504, 'DEADLINE_EXCEEDED', `The deadline passed while waiting for a free place at ${this.label}`));
      }, deadline.remainingMs());
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const at = this.waiting.findIndex((w) => w.deadlineAt > waiter.deadlineAt);
      if (at < 0) this.waiting.push(waiter);
      else this.waiting.splice(at, 0, waiter);
    });
  }

  private take(): () => void {
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.drain();
    };
  }

  private drain(): void {
    while (this.active < this.limit && this.waiting.length > 0) this.waiting.shift()!.grant();
  }
}
