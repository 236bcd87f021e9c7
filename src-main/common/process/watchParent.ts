/** Set by the spawner (rbeeCommand) to its own pid. */
export const PARENT_PID_ENV = 'RBEE_PARENT_PID';

let startupParent: number | undefined;

/**
 * Records the parent as it was when this process started. The CLI entry calls it first thing: a hive
 * or worker starts slowly under load (seconds), and a parent that dies before `watchParent` runs would
 * otherwise be read as "the parent" (init) and never noticed, leaving an orphan that runs forever.
 */
export function rememberStartupParent(): void {
  if (startupParent !== undefined) return;
  // The spawner names itself (rbeeCommand sets it): exact even when it died before we started.
  const named = Number(process.env[PARENT_PID_ENV]);
  startupParent = Number.isInteger(named) && named > 0 ? named : process.ppid;
  // Not inherited by our own children: their parent is us.
  delete process.env[PARENT_PID_ENV];
}

/**
 * Calls `onOrphaned` once when this process's parent goes away, so no child outlives its supervisor:
 * the IPC channel's `disconnect` (instant, when forked) and, as a fallback for spawned children,
 * a change of `process.ppid` (the orphan is re-parented). Returns a function that stops watching.
 */
export function watchParent(onOrphaned: () => void, pollMs = 500): () => void {
  const initialParent = startupParent ?? process.ppid;
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    stop();
    onOrphaned();
  };
  const timer = setInterval(() => {
    if (process.ppid !== initialParent) fire();
  }, pollMs);
  timer.unref();
  const hasIpc = typeof process.send === 'function';
  if (hasIpc) process.once('disconnect', fire);
  // Re-parented before watching began (the parent died during start-up): orphaned already.
  if (process.ppid !== initialParent || (hasIpc && !process.connected)) queueMicrotask(fire);
  function stop(): void {
    clearInterval(timer);
    if (hasIpc) process.off('disconnect', fire);
  }
  return stop;
}
