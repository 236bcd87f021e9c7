import type { ClusterEvent, ClusterEventBody, ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';

export type ClusterEventListener = (event: ClusterEvent) => void;

/**
 * The hive's one event stream. Every state change is published here as a `ClusterEvent` with a
 * hive-wide increasing `seq`; `/v1/events` and in-process subscribers read from it. `subscribe`
 * delivers a snapshot first, taken in the same tick as the subscription, so nothing falls between.
 */
export class HiveEventHub {
  private seq = 0;
  private readonly listeners = new Set<ClusterEventListener>();

  constructor(
    private readonly snapshot: () => ClusterSnapshot,
    private readonly clock: () => number = Date.now,
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  publish(body: ClusterEventBody): ClusterEvent {
    this.seq += 1;
    const event = { ...body, seq: this.seq, at: this.clock() } as ClusterEvent;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A faulty subscriber must not stop the others (or the supervisor that published).
      }
    }
    return event;
  }

  /** Calls `listener` with a snapshot now, then with every later event. Returns the unsubscribe function. */
  subscribe(listener: ClusterEventListener, options: { snapshot?: boolean } = {}): () => void {
    if (options.snapshot !== false) {
      listener({ type: 'snapshot', snapshot: this.snapshot(), seq: this.seq, at: this.clock() });
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
