/**
 * Request deadlines (DESIGN §3 "Deadlines").
 *
 * A deadline is an absolute epoch-ms instant. Every hop forwards min(own, received) minus a small
 * buffer and never extends it. Across machines `X-Deadline-Remaining-Ms` is preferred over the
 * absolute value because it is immune to clock skew.
 */
export const DEADLINE_HEADER = 'x-deadline';
export const DEADLINE_REMAINING_HEADER = 'x-deadline-remaining-ms';
/** Defaults to 60 s when a request carries no (parsable) deadline. */
export const DEFAULT_DEADLINE_MS = 60_000;
/** Subtracted at every hop so the downstream gives up before the upstream does. */
export const DEFAULT_HOP_BUFFER_MS = 20;

export type Clock = () => number;

/** Lower-cased request headers (Node's IncomingHttpHeaders fits). */
export type DeadlineHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface DeadlineFromHeadersOptions {
  /** Injected clock. Defaults to `Date.now`. */
  now?: Clock;
  /** Used when no header parses. Defaults to {@link DEFAULT_DEADLINE_MS}. */
  defaultMs?: number;
  /** This hop's own ceiling (ms from now); the result is never later than it. Defaults to none. */
  maxMs?: number;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Strict non-negative integer parse: "12abc", "1e3", "" and negatives are rejected. */
function parseMs(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  if (!/^\d{1,16}$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : undefined;
}

export class Deadline {
  private constructor(
    /** Absolute instant, epoch ms. */
    readonly at: number,
    private readonly now: Clock,
  ) {}

  static at(epochMs: number, now: Clock = Date.now): Deadline {
    return new Deadline(epochMs, now);
  }

  static in(ms: number, now: Clock = Date.now): Deadline {
    return new Deadline(now() + ms, now);
  }

  /**
   * Reads `X-Deadline-Remaining-Ms` (preferred) or `X-Deadline`; absent or unparsable → now + default.
   * The result is capped by `maxMs` so a client cannot extend this hop's own limit.
   */
  static fromHeaders(headers: DeadlineHeaders, options: DeadlineFromHeadersOptions = {}): Deadline {
    const now = options.now ?? Date.now;
    const t = now();
    const remaining = parseMs(single(headers[DEADLINE_REMAINING_HEADER]));
    const absolute = parseMs(single(headers[DEADLINE_HEADER]));
    let at: number;
    if (remaining !== undefined) at = t + remaining;
    else if (absolute !== undefined) at = absolute;
    else at = t + (options.defaultMs ?? DEFAULT_DEADLINE_MS);
    if (options.maxMs !== undefined) at = Math.min(at, t + options.maxMs);
    return new Deadline(at, now);
  }

  remainingMs(): number {
    return Math.max(0, this.at - this.now());
  }

  expired(): boolean {
    return this.now() >= this.at;
  }

  /** min(this, other): a hop never extends what it received. */
  min(other: Deadline): Deadline {
    return other.at < this.at ? other : this;
  }

  /** The deadline to hand to the next hop: this one minus a buffer, never later than this one. */
  forNextHop(bufferMs: number = DEFAULT_HOP_BUFFER_MS): Deadline {
    return new Deadline(this.at - Math.max(0, bufferMs), this.now);
  }

  /** Headers for the next hop: both forms, so a receiver on another clock can prefer the relative one. */
  toHeaders(): Record<string, string> {
    return {
      [DEADLINE_HEADER]: String(this.at),
      [DEADLINE_REMAINING_HEADER]: String(this.remainingMs()),
    };
  }
}
