/**
 * Runs `handler` on SIGTERM and SIGINT (every time; make it idempotent). Daemons must use this rather
 * than `process.once`: a dependency uses signal-exit, which re-raises a signal when it finds itself the
 * only listener left — with `once`, that kills the process mid-drain with exit 143.
 */
export function onTerminationSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  const listener = (signal: NodeJS.Signals): void => handler(signal);
  process.on('SIGTERM', listener);
  process.on('SIGINT', listener);
  return () => {
    process.off('SIGTERM', listener);
    process.off('SIGINT', listener);
  };
}
