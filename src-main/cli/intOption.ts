/**
 * An integer command-line option within [min, max]; undefined when it was not given. Throws with a
 * message naming the flag, which each command prints before exiting 2.
 */
export function intOption(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer between ${min} and ${max}, got '${raw}'`);
  }
  return value;
}
