/** A promise's result as it stands: the value or the error once settled, so a test can look at either without racing. */
export interface Outcome<T> {
  value?: T;
  error?: unknown;
  settled: boolean;
}

/** Settles `promise` into an {@link Outcome} box that fills in when it settles. */
export function outcome<T>(promise: Promise<T>): Outcome<T> {
  const box: Outcome<T> = { settled: false };
  promise.then(
    (value) => Object.assign(box, { value, settled: true }),
    (error: unknown) => Object.assign(box, { error, settled: true }),
  );
  return box;
}
