/** A command line the CLI cannot run as given: printed with the command's usage, exit 2. */
export class UsageError extends Error {}

/** Runs a `parseArgs` call; its complaint becomes a usage error (exit 2). */
export function parseOrUsage<T>(parser: () => T): T {
  try {
    return parser();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
