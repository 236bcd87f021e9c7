import type { ServerResponse } from 'node:http';

/**
 * Writes a job's SSE events: the first token leaves at once (time to first token), later ones are
 * gathered for `flushIntervalMs` and written together. Measured here (tiny model, 1 thread, 2 cores):
 * one write per token ran generation at 0.87× of in-process, a 10 ms window at 0.98×; each write wakes
 * the reader, and on a small machine those wake-ups preempt the compute thread. 0 = one write per event.
 */
export class SseBatcher {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private firstTokenSent = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly flushIntervalMs: number,
  ) {}

  /** Held until the next write (the `started` event travels with the first token). */
  hold(text: string): void {
    this.pending += text;
  }

  /** Control events (started, end, error) are written immediately, after whatever is pending. */
  control(text: string): void {
    this.pending += text;
    this.flush();
  }

  token(text: string): void {
    if (!this.firstTokenSent || this.flushIntervalMs <= 0) {
      this.firstTokenSent = true;
      this.pending += text;
      this.flush();
      return;
    }
    this.pending += text;
    this.timer ??= setTimeout(() => this.flush(), this.flushIntervalMs);
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0 || this.res.writableEnded || this.res.destroyed) {
      this.pending = '';
      return;
    }
    this.res.write(this.pending);
    this.pending = '';
  }

  /** Flushes and ends the response with `trailer`. */
  end(trailer: string): void {
    this.flush();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end(trailer);
  }
}
