/** Options for {@link waitFor}. */
export interface WaitForOptions<T> {
  /** What is awaited, for the timeout message. Defaults to "condition". */
  what?: string;
  /** Give up after this long. Defaults to 30,000 ms: generous, because two loaded cores run real processes. */
  timeoutMs?: number;
  /** Pause between two reads while polling. Defaults to 50 ms. */
  intervalMs?: number;
  /** A `read` that throws counts as "not yet" (a server still starting) instead of failing the wait. Defaults to false. */
  retryErrors?: boolean;
  /**
   * Where the value changes by an event the test can hear, `onChange` subscribes a re-check to it and
   * returns the unsubscribe: the wait then re-reads on each change instead of polling. Defaults to polling.
   */
  onChange?: (recheck: () => void) => () => void;
  /** How the last value read appears in the timeout message. Defaults to its JSON, cut to 2,000 characters. */
  describe?: (last: T | undefined) => string;
}

type Falsy = false | null | undefined | 0 | '';

/**
 * The one way tests wait for a condition: reads `read` until `predicate` holds for its value and
 * returns that value, or rejects after `timeoutMs` naming `what` and the last value read. Without a
 * predicate it waits for a truthy value. A wait, never a sleep: it returns as soon as the condition
 * holds, so a slow machine only makes it take longer.
 */
export function waitFor<T>(read: () => T | Falsy | Promise<T | Falsy>, options?: WaitForOptions<T | Falsy>): Promise<T>;
export function waitFor<T>(read: () => T | Promise<T>, predicate: (value: T) => boolean, options?: WaitForOptions<T>): Promise<T>;
export function waitFor<T>(
  read: () => T | Promise<T>,
  predicateOrOptions?: ((value: T) => boolean) | WaitForOptions<T>,
  maybeOptions?: WaitForOptions<T>,
): Promise<T> {
  const predicate = typeof predicateOrOptions === 'function' ? predicateOrOptions : (value: T): boolean => Boolean(value);
  const options = (typeof predicateOrOptions === 'function' ? maybeOptions : predicateOrOptions) ?? {};
  const { what = 'condition', timeoutMs = 30_000, intervalMs = 50, retryErrors = false, onChange } = options;
  const describe = options.describe ?? ((last: T | undefined): string => String(JSON.stringify(last)).slice(0, 2000));
  const started = Date.now();
  let last: T | undefined;

  /** One read: true when the condition holds. */
  const check = async (): Promise<boolean> => {
    try {
      last = await read();
    } catch (error) {
      if (!retryErrors) throw error;
      return false;
    }
    return predicate(last);
  };
  const timeoutError = (): Error => new Error(`${what} not met within ${timeoutMs} ms; last: ${describe(last)}`);

  if (onChange === undefined) {
    return (async () => {
      for (;;) {
        if (await check()) return last as T;
        if (Date.now() - started > timeoutMs) throw timeoutError();
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      fn();
    };
    const recheck = (): void => {
      check().then(
        (ok) => ok && finish(() => resolve(last as T)),
        (error: unknown) => finish(() => reject(error instanceof Error ? error : new Error(String(error)))),
      );
    };
    const timer = setTimeout(() => finish(() => reject(timeoutError())), timeoutMs);
    const unsubscribe = onChange(recheck);
    recheck();
  });
}
