import { ApiError } from '../../../src-shared/api/ApiError.js';

/**
 * Where the queue's time comes from. Injected: the queen passes the real clock, unit tests a fake one
 * they advance by hand, so a deadline is checked at its instant instead of with a sleep.
 */
export interface QueueClock {
  now(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it (idempotent). */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemQueueClock: QueueClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** What the owner decides for one waiter when it serves the queue. */
export type ServeDecision<T> = { kind: 'grant'; value: T } | { kind: 'reject'; error: Error } | { kind: 'keep' };

export interface DeadlineQueueOptions<P> {
  /** Requests allowed to wait; one more is refused at once with 503 QUEUE_FULL and Retry-After. */
  limit: number;
  clock?: QueueClock;
  /** The 503 QUEUE_FULL message (the code, status and Retry-After are the queue's). */
  fullMessage: (waiting: number) => string;
  /** The 504 DEADLINE_EXCEEDED message for a waiter whose deadline passed in the queue. */
  expiredMessage: (payload: P) => string;
}

interface Waiter<P, T> {
  payload: P;
  deadlineAt: number;
  /** Set when it left the queue (granted, rejected, expired, abandoned). */
  left: boolean;
  resolve(value: T): void;
  reject(error: Error): void;
}

/** The client went away while its request waited. Nobody reads it; the status keeps logs and metrics honest. */
export const clientGoneWhileQueued = (): ApiError => new ApiError(499, 'INVALID_REQUEST', 'The client went away while queued');

/**
 * The queen's one waiting room: a bounded queue, earliest deadline first (equal deadlines keep arrival
 * order). A waiter leaves it in exactly one way:
 * - its owner grants it a value while serving the queue (`serve`), in deadline order;
 * - its owner rejects it (`serve` answering `reject`), e.g. when its model became unservable;
 * - its deadline passes: 504 DEADLINE_EXCEEDED, at that instant;
 * - its client goes away (the signal aborts): 499;
 * - the owner closes the queue: the close error (503 SHUTTING_DOWN).
 * A request that arrives when the queue is full is refused at once (503 QUEUE_FULL, Retry-After: 1);
 * one whose deadline has already passed, with 504. What a waiter waits for (a worker slot, a place at a
 * pool) is the owner's business: the queue only holds `P` and hands out what `serve` grants.
 */
export class DeadlineQueue<P, T> {
  /** Sorted by deadline, earliest first; equal deadlines in arrival order. */
  private readonly waiters: Array<Waiter<P, T>> = [];
  private readonly clock: QueueClock;
  private closedWith: Error | undefined;

  constructor(private readonly options: DeadlineQueueOptions<P>) {
    this.clock = options.clock ?? systemQueueClock;
  }

  get length(): number {
    return this.waiters.length;
  }

  get limit(): number {
    return this.options.limit;
  }

  /** Waits in the queue until served, rejected, expired, abandoned or closed (see the class comment). */
  enqueue(payload: P, deadlineAt: number, signal?: AbortSignal): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const remainingMs = deadlineAt - this.clock.now();
    if (remainingMs <= 0) return Promise.reject(this.expired(payload));
    if (signal?.aborted) return Promise.reject(clientGoneWhileQueued());
    if (this.waiters.length >= this.options.limit) {
      return Promise.reject(new ApiError(503, 'QUEUE_FULL', this.options.fullMessage(this.waiters.length), undefined, { 'retry-after': '1' }));
    }
    return new Promise<T>((resolve, reject) => {
      const leave = (): void => {
        waiter.left = true;
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
      };
      const waiter: Waiter<P, T> = {
        payload,
        deadlineAt,
        left: false,
        resolve: (value) => {
          leave();
          resolve(value);
        },
        reject: (error) => {
          leave();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(clientGoneWhileQueued());
      const cancelTimer = this.clock.setTimer(() => waiter.reject(this.expired(payload)), remainingMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      const after = this.waiters.findIndex((w) => w.deadlineAt > deadlineAt);
      if (after === -1) this.waiters.push(waiter);
      else this.waiters.splice(after, 0, waiter);
    });
  }

  /**
   * Offers the queue to its owner, earliest deadline first: `decide` answers each waiter with a grant
   * (it leaves with that value), a rejection, or keep (it stays, in its place). A grant is usually a
   * resource taken inside `decide`, so later waiters see it gone.
   */
  serve(decide: (payload: P) => ServeDecision<T>): void {
    // A snapshot: waiters leave (and may join) while we go through it.
    for (const waiter of [...this.waiters]) {
      if (waiter.left) continue;
      const decision = decide(waiter.payload);
      if (decision.kind === 'grant') waiter.resolve(decision.value);
      else if (decision.kind === 'reject') waiter.reject(decision.error);
    }
  }

  /** Answers every waiter with `error`, and every later `enqueue` too. Idempotent. */
  close(error: Error): void {
    this.closedWith ??= error;
    for (const waiter of [...this.waiters]) waiter.reject(this.closedWith);
  }

  private expired(payload: P): ApiError {
    return new ApiError(504, 'DEADLINE_EXCEEDED', this.options.expiredMessage(payload));
  }
}
